"""Privacy: payloads encrypted before they leave the process (AES-256-GCM payload codec).

``privacy.keys`` parses the key ring (``PARTY_ORDERS_ENCRYPTION_KEYS``, read by the top-level
``settings``); ``privacy.codec`` is the ``PayloadCodec`` and the data converter every
process of the project connects with.
"""
