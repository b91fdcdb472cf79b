"""The native wire profile: swimcore's own format, spoken when ``Config.wire`` is ``"native"``.

Two modules: :mod:`.codec` (the format: messages and updates to bytes and back, every length
checked, a CRC-32 trailer) and :mod:`.profile` (:class:`~.profile.NativeWire`, the codec behind
the :class:`~swimcore.wire.Wire` protocol, with the keyring's envelope around whole payloads).
"""
