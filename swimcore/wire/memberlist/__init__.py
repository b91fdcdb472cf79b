"""The memberlist wire profile: HashiCorp memberlist's protocol, so swimcore nodes can be members
of memberlist (Go) clusters.

Small modules, one job each: :mod:`.msgpack` (the subset Go's codec writes), :mod:`.lzw` (Go's
``compress/lzw``), :mod:`.security` (AES-GCM envelope), :mod:`.messages` (the records),
:mod:`.bodies` (message bodies), :mod:`.packet` (datagrams), :mod:`.stream` (TCP exchanges) and
:mod:`.profile` (the mapping to swimcore's messages, used by the node).
"""
