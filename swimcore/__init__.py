"""swimcore: SWIM cluster membership and failure detection with Lifeguard, as a sans-IO core.

The :class:`Node` is a deterministic state machine: feed it datagrams, timer ticks and user
requests with the current time, and carry out the actions it returns.  Drivers that own sockets
and clocks live in the ``swimcore.transports`` subpackage, which ``import swimcore`` does not
load.
"""

from swimcore._version import __version__
from swimcore.actions import (
    Action,
    BroadcastReceived,
    Command,
    Event,
    ExchangeRefused,
    ExchangeRequest,
    JoinAddress,
    JoinFailed,
    JoinResult,
    LeaderChanged,
    MemberAlive,
    MemberFailed,
    MemberInfo,
    MemberJoined,
    MemberLeft,
    MembershipEvent,
    MemberStable,
    MemberSuspected,
    MemberUnstable,
    MemberUpdated,
    MessageDelivered,
    MessageFailed,
    MessageReceived,
    NameConflict,
    Outgoing,
    RoundTrip,
    Send,
)
from swimcore.address import Address
from swimcore.config import Config
from swimcore.errors import (
    AddressError,
    AuthError,
    ClockError,
    ConfigError,
    DecodeError,
    DeliveryError,
    JoinError,
    StateError,
    SwimError,
)
from swimcore.keyring import Keyring
from swimcore.messages import State
from swimcore.node import LogSink, Node

__all__ = [
    "Action",
    "Address",
    "AddressError",
    "AuthError",
    "ClockError",
    "Command",
    "BroadcastReceived",
    "Config",
    "ConfigError",
    "DecodeError",
    "DeliveryError",
    "Event",
    "ExchangeRequest",
    "JoinAddress",
    "ExchangeRefused",
    "JoinFailed",
    "JoinResult",
    "JoinError",
    "NameConflict",
    "Keyring",
    "LeaderChanged",
    "LogSink",
    "MemberAlive",
    "MemberFailed",
    "MemberInfo",
    "MemberJoined",
    "MemberLeft",
    "MemberStable",
    "MemberSuspected",
    "MemberUnstable",
    "MemberUpdated",
    "MembershipEvent",
    "MessageDelivered",
    "MessageFailed",
    "MessageReceived",
    "Node",
    "Outgoing",
    "RoundTrip",
    "Send",
    "State",
    "StateError",
    "SwimError",
    "__version__",
]
