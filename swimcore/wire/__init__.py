"""Wire profiles: how a node's messages become bytes.

``native`` is swimcore's own format (:mod:`swimcore.codec`); ``memberlist`` speaks HashiCorp
memberlist's protocol (:mod:`swimcore.wire.memberlist`) so swimcore nodes can be members of
memberlist clusters.
"""
