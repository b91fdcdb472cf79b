"""The memberlist wire profile: HashiCorp memberlist's protocol, so swimcore nodes can be members
of memberlist (Go) clusters.  It needs the ``msgpack`` package (``pip install
'swimcore[memberlist]'``) and is loaded only when a node's ``Config.wire`` names it.

Small modules, one job each: :mod:`.packing` (msgpack values as Go writes them, on the
``msgpack`` package), :mod:`.lzw` (Go's ``compress/lzw``), :mod:`.security` (AES-GCM envelope),
:mod:`.messages` (the records), :mod:`.bodies` (message bodies), :mod:`.packet` (datagrams),
:mod:`.stream` (TCP exchanges) and :mod:`.profile` (the mapping to swimcore's messages, used by
the node).
"""
