"""Personal data: encrypted with a key per customer, erased by deleting that key (crypto-shredding).

``fields`` says which values identify a person; ``cipher`` seals and opens them with AES-GCM;
``keys`` keeps the customers' keys in the event store, wrapped by the key-encryption key;
``codec`` puts them together for every reader and writer of events; ``erasure`` is the
operator's use case.
"""
