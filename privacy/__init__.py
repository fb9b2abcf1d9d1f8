"""Privacy: payloads encrypted before they leave the process (AES-256-GCM payload codec).

``privacy.keys`` reads ``PARTY_ORDERS_ENCRYPTION_KEYS``; ``privacy.codec`` is the
``PayloadCodec`` and the data converter every process of the project connects with.
"""
