"""``swimcore run GROUP MEMBER_ADDR [JOIN_ADDR]``: one member on the network (zgroup's sample).

With ``JOIN_ADDR`` the member joins through it (the node retries with jitter while it is alone;
giving its own address starts a new group).  Without it, the member finds the join address in a
discovery store (``--store``) and keeps looking while it is alone; whenever it is the leader (the
alive member with the highest address) it writes its own address there every ``--join-every``
protocol periods.  It logs membership events, prints the member list every ``--print-every``
seconds, and on SIGINT/SIGTERM leaves the group gracefully before it exits.

``--key-file PATH`` encrypts the group's traffic (AES-GCM): one key per line, hex or base64,
16, 24 or 32 bytes; the first is the primary key, the others are accepted too (for rotation).
``--driver thread`` runs the protocol on a thread of its own (BridgedMember under asyncio).
Logs: ``swimcore.cli`` (this program), ``swimcore.transports.<driver>``, ``swimcore.core``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ipaddress
import logging
import os
import signal
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from swimcore import (
    Address,
    AddressError,
    Config,
    ConfigError,
    Event,
    ExchangeRefused,
    JoinAddress,
    JoinFailed,
    JoinResult,
    Keyring,
    MemberInfo,
    MemberJoined,
    MembershipEvent,
    NameConflict,
    RoundTrip,
)
from swimcore.cli import _args
from swimcore.transports import (
    DiscoveryOptions,
    DiscoveryStore,
    MemberLogger,
    MemberOptions,
    describe_event,
)

log = logging.getLogger("swimcore.cli")

_DRIVERS = ("asyncio", "anyio", "trio", "thread")
WaitStop = Callable[[float], Awaitable[bool]]


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="run one member (the zgroup-style sample node)",
        description=_args.plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)


def make_parser(prog: str) -> argparse.ArgumentParser:
    """A stand-alone parser with ``swimcore run``'s arguments (``examples/sample_node.py``).

    Read the command line with ``parse_intermixed_args`` so options may follow positionals.
    """
    parser = _args.CliParser(
        prog=prog,
        description=_args.plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``swimcore run``'s positionals and options to ``parser``; ``func`` is :func:`run`."""
    parser.add_argument(
        "group",
        metavar="GROUP",
        type=_args.cluster_label,
        help="cluster label: members of other groups are never seen",
    )
    parser.add_argument(
        "member_addr",
        metavar="MEMBER_ADDR",
        type=_bind_address,
        help="IP:PORT to bind (port 0 picks one)",
    )
    parser.add_argument(
        "join_addr",
        metavar="JOIN_ADDR",
        nargs="?",
        type=_join_address,
        help="IP:PORT or HOST:PORT of a member to join through (a host name is resolved at "
        "every attempt and each of its addresses tried); your own MEMBER_ADDR starts a group",
    )
    parser.add_argument(
        "--advertise",
        default=os.environ.get("SWIMCORE_ADVERTISE"),
        help="IP[:PORT] others reach this member at (required when binding 0.0.0.0 or ::; "
        "default $SWIMCORE_ADVERTISE)",
    )
    parser.add_argument("--name", help="member name (default: the advertised IP:PORT)")
    parser.add_argument("--preset", choices=("lan", "wan", "local"), default="lan")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        type=_args.config_override,
        help="change one Config field, e.g. --set probe_interval=0.5 (repeatable)",
    )
    parser.add_argument(
        "--driver",
        choices=_DRIVERS,
        default="asyncio",
        help="event loop: asyncio, anyio (asyncio backend), trio, or thread (the protocol on "
        "a thread of its own, so a busy loop never delays it)",
    )
    parser.add_argument(
        "--key-file",
        help="encrypt the group's traffic: a file with one key per line (hex or base64, "
        "16/24/32 bytes), the first one primary",
    )
    store = parser.add_argument_group("join-address discovery")
    store.add_argument(
        "--store",
        default=os.environ.get("SWIMCORE_STORE"),
        help="where to find and publish the join address: static:ADDR,...  file:PATH  "
        "dns:NAME:PORT[@NS]  srv:NAME[@NS]  or an http(s) URL template with {prefix} and "
        "{group} (default $SWIMCORE_STORE)",
    )
    # Left out, these are None (the store's defaults, or STORE_DEFAULTS): given without
    # --store, refused; the first three are an http(s) store's only.
    store.add_argument("--store-put", help="URL template for writes, if not the --store URL")
    store.add_argument("--store-method", help="HTTP method of writes (PUT)")
    store.add_argument("--prefix", help="key prefix in the store (swimcore)")
    store.add_argument(
        "--join-every",
        type=_args.count,
        help="while leader, publish the join address every N protocol periods (10; 0: never)",
    )
    store.add_argument(
        "--discovery-interval",
        type=_args.positive_seconds,
        help="while in a group, look in the store this often so groups formed apart merge (30 s)",
    )
    parser.add_argument(
        "--print-every",
        type=_print_period,
        default=5.0,
        help=f"member list period, s (at least {MIN_PRINT_EVERY}; default 5)",
    )
    parser.add_argument(
        "--duration",
        type=_args.non_negative_seconds,
        default=0.0,
        help="stop after N s (0: never, the default)",
    )
    parser.add_argument("--no-leave", action="store_true", help="stop without leaving")
    parser.add_argument(
        "--log-level",
        type=_args.log_level,
        default=logging.INFO,
        metavar="|".join(_args.LOG_LEVELS),
        help="log level (INFO)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the member until a signal (or ``--duration``); 0 on a clean stop, 2 on bad input."""
    extra = _missing_extra(args.driver)
    if extra:
        print(f"swimcore run: {extra}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config, options = member_settings(args)
        if args.driver in ("asyncio", "thread"):
            return asyncio.run(_main_asyncio(config, options, args))
        import anyio  # noqa: PLC0415 - only the anyio and trio drivers need it

        backend = "trio" if args.driver == "trio" else "asyncio"
        try:
            result: int = anyio.run(_main_anyio, config, options, args, backend=backend)
        except BaseExceptionGroup as group:
            raise _lone(group) from None  # anyio's task group wraps a bind error
        return result
    except (AddressError, ConfigError, ValueError) as exc:
        print(f"swimcore run: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"swimcore run: cannot bind {args.member_addr}: {exc}", file=sys.stderr)
        return 1


def _lone(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception in ``group`` (nested groups opened), else ``group`` itself.

    The anyio and trio drivers run the member in a task group, which raises what went wrong
    (a port in use, say) inside an exception group: opened, it is reported in one line as on
    the asyncio and thread drivers.
    """
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    return group if isinstance(inner, BaseExceptionGroup) else inner


#: The store options an http(s) store alone uses (left out: the store's own defaults).
HTTP_STORE_OPTIONS = ("store_put", "store_method", "prefix")
#: The values of the other store options when they are left out.
STORE_DEFAULTS: dict[str, Any] = {"join_every": 10, "discovery_interval": 30.0}


def member_settings(args: argparse.Namespace) -> tuple[Config, MemberOptions]:
    """The Config and the :class:`~swimcore.transports.MemberOptions` ``swimcore run`` asks for.

    Raises :class:`~swimcore.AddressError`, :class:`~swimcore.ConfigError` or ``ValueError``
    with a message naming the option at fault.
    """
    config, store, seeds = _settings(args)
    options = MemberOptions(
        bind=args.member_addr,
        advertise=_advertise(args.advertise, args.member_addr),
        name=args.name,
        seeds=seeds,
        discovery=store,
        discovery_options=DiscoveryOptions(
            alone_initial=config.join_retry_interval,
            alone_max=8 * config.join_retry_interval,
            refresh=args.discovery_interval,
        ),
        leave_on_exit=not args.no_leave,
        keyring=read_key_file(args.key_file) if args.key_file else None,
    )
    return config, options


def _settings(args: argparse.Namespace) -> tuple[Config, DiscoveryStore | None, list[str]]:
    from swimcore.transports.discovery import store_from_spec  # noqa: PLC0415 - keep --help fast

    if args.join_addr is None and not args.store:
        raise ValueError("give JOIN_ADDR (your own address starts a new group) or --store")
    unused = _args.given(args, *HTTP_STORE_OPTIONS, *STORE_DEFAULTS)
    if unused and not args.store:
        raise ValueError(f"without --store there is no store for {', '.join(unused)}")
    http_only = _args.given(args, *HTTP_STORE_OPTIONS)
    kind = args.store.partition(":")[0] if args.store else ""
    if http_only and kind not in ("http", "https"):
        raise ValueError(f"{_args.not_apply(http_only)} to a {kind}: store, only to http(s)")
    _args.fill(args, STORE_DEFAULTS)
    label = dict(args.overrides).get("label", args.group)
    if label != args.group:
        raise ValueError(f"--set label={label!r} contradicts GROUP {args.group!r}: leave it out")
    joins_itself = args.join_addr == args.member_addr  # zgroup's "join to self": a new group
    seeds = [args.join_addr] if args.join_addr and not joins_itself else []
    if seeds and not _is_ip_address(args.join_addr):
        # A host name: resolved at every attempt, every address tried (memberlist's Join).
        if args.store:
            raise ValueError("give JOIN_ADDR as a host name or --store, not both")
    elif seeds:
        seed = Address.parse(args.join_addr)
        if seed.port == 0 or seed.is_unspecified:
            raise ValueError(
                f"JOIN_ADDR must be a member's IP:PORT (0.0.0.0 and port 0 only when it is "
                f"MEMBER_ADDR, to start a group), got {args.join_addr}"
            )
    store: DiscoveryStore | None = None
    if args.store:
        _check_store("--store", args.store)
        if args.store_put is not None:
            _check_store("--store-put", args.store_put)
        store = store_from_spec(
            args.store,
            group=args.group,
            prefix=args.prefix,
            put_url=args.store_put,
            put_method=args.store_method,
        )
    defaults: dict[str, Any] = {"label": args.group}
    if args.store:
        defaults["join_address_every"] = args.join_every
    return _args.build_config(args.preset, args.overrides, **defaults), store, seeds


def _check_store(option: str, spec: str) -> None:
    """Refuse, before the member starts, a store that could only fail while it runs: an
    http(s) URL without a host, a ``file:`` store in a folder that does not exist.

    The library's :func:`~swimcore.transports.discovery.store_from_spec` takes them (a folder
    may appear later) and the member warns at every lookup; a command line is checked now.
    """
    kind, _, rest = spec.partition(":")
    if kind in ("http", "https"):
        try:
            host = urllib.parse.urlsplit(spec).hostname
        except ValueError:  # a bracket left open: http://[::1/
            host = None
        if not host:
            raise ValueError(f"{option} {spec!r}: want an http(s) URL with a host")
    if kind == "file" and rest:
        folder = os.path.dirname(rest) or "."
        if not os.path.isdir(folder):
            raise ValueError(f"{option} {spec!r}: the folder {folder!r} does not exist")


def _is_ip_address(text: str) -> bool:
    try:
        Address.parse(text)
    except AddressError:
        return False
    return True


def read_key_file(path: str) -> Keyring:
    """The keyring in ``path``: one key per line (hex or base64), the first one primary.

    Blank lines and lines starting with ``#`` are skipped.  Raises ``ValueError`` naming the
    file and line of a bad key (never the key itself), or when the file cannot be read or holds
    no key; :class:`~swimcore.ConfigError` when the ``cryptography`` package is missing.
    """
    try:
        with open(path, encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise ValueError(f"--key-file {path}: cannot read it ({reason})") from None
    keys: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key = _decode_key(text)
        if key is None:
            raise ValueError(
                f"--key-file {path} line {number}: not a key (want 16, 24 or 32 bytes, "
                "written as hex or base64)"
            )
        keys.append(key)
    if not keys:
        raise ValueError(f"--key-file {path}: no key in it (one key per line, hex or base64)")
    return Keyring(keys[0], *keys[1:])


def _decode_key(text: str) -> bytes | None:
    """The bytes of a key written as hex (32, 48 or 64 digits) or base64, or ``None``.

    Hex is tried first: 32 characters that are both hex and base64 read as hex.
    """
    candidates: list[bytes] = []
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(text))
    with contextlib.suppress(ValueError):  # binascii.Error is a ValueError
        candidates.append(base64.b64decode(text, validate=True))
    for key in candidates:
        if len(key) in (16, 24, 32):
            return key
    return None


def _bind_address(text: str) -> str:
    """MEMBER_ADDR: an IP:PORT to bind (checked here so a bad one is named as such)."""
    try:
        Address.parse(text)
    except AddressError as exc:
        raise argparse.ArgumentTypeError(f"want an IP:PORT to bind: {exc}") from None
    return text


def _join_address(text: str) -> str:
    """JOIN_ADDR: a member's IP:PORT, or HOST:PORT (resolved again at every join attempt)."""
    from swimcore.transports.discovery.hosts import split_host_port  # noqa: PLC0415

    try:
        Address.parse(text)
    except AddressError:
        try:
            split_host_port(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(
                f"want a member's IP:PORT or HOST:PORT: {exc}"
            ) from None
    return text


MIN_PRINT_EVERY = 0.1


def _print_period(text: str) -> float:
    """``--print-every``: at least 0.1 s, so the loop always sleeps and signals get through."""
    want = f"a number of seconds >= {MIN_PRINT_EVERY}"
    value: float = _args.number(text, float, want)
    if value < MIN_PRINT_EVERY:
        raise argparse.ArgumentTypeError(f"want {want}, got {text!r}")
    return value


_EXTRAS = {"anyio": ("anyio",), "trio": ("anyio", "trio")}


def _missing_extra(driver: str) -> str | None:
    """A one-line message when the driver's extra is not installed, else ``None``."""
    missing = [name for name in _EXTRAS.get(driver, ()) if _args.extra_missing(name)]
    if not missing:
        return None
    return (
        f"--driver {driver} needs {' and '.join(missing)}, which come with the 'transports' "
        "extra: pip install 'swimcore[transports]' (or use --driver asyncio or thread)"
    )


def _advertise(advertise: str | None, bind: str) -> str | None:
    """``--advertise`` may be a bare IP: the port is then the one in MEMBER_ADDR."""
    if advertise is None:
        return None
    try:
        ip = ipaddress.ip_address(advertise.strip("[]"))
    except ValueError:
        return advertise  # IP:PORT (checked when the member is built)
    port = bind.rpartition(":")[2]
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


# ---------------------------------------------------------------------------- main loops


async def _serve(member: Any, args: argparse.Namespace, wait_stop: WaitStop) -> None:
    """Log events, print the member list every few seconds, until told to stop."""
    member_log = MemberLogger(log, member.name)

    join_failures: dict[tuple[Address, str], None] = {}

    def log_event(event: Event) -> None:
        if isinstance(event, MembershipEvent):
            if isinstance(event, MemberJoined):
                join_failures.clear()  # in a group: a later failure is news again
            return  # the node logs membership changes itself (swimcore.core, INFO)
        level = logging.INFO
        if isinstance(event, JoinAddress | RoundTrip):
            level = logging.DEBUG  # routine: the leader's report, a probe's round trip
        elif isinstance(event, JoinFailed):
            # Once per seed and reason at WARNING; the retries that follow at DEBUG.
            key = (event.seed, event.reason)
            level = logging.DEBUG if key in join_failures else logging.WARNING
            join_failures[key] = None
        elif isinstance(event, JoinResult):
            level = logging.DEBUG if event.error is not None else logging.INFO  # failures: above
        elif isinstance(event, ExchangeRefused | NameConflict):
            level = logging.WARNING
        member_log.log(level, "%s", describe_event(event))

    member.on_event(log_event)
    member_log.info(
        "member %s at %s in group %r (driver %s%s)",
        member.name,
        member.address,
        member.config.label,
        args.driver,
        ", encrypted" if args.key_file else "",
    )
    changed = ", ".join(f"{key}={value!r}" for key, value in args.overrides)
    member_log.info("config: preset %s%s", args.preset, f" with {changed}" if changed else "")
    ends = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    while True:
        _print_members(member.members(), member.leader)
        timeout = min(args.print_every, max(0.0, ends - time.monotonic()))
        if await wait_stop(timeout) or time.monotonic() >= ends:
            break
    member_log.info("stopping%s", "" if args.no_leave else ": leaving the group")


def _print_members(members: list[MemberInfo], leader: MemberInfo | None) -> None:
    names = ", ".join(f"{m.name}{'' if m.state.name == 'ALIVE' else '?'}" for m in members)
    lead = leader.name if leader is not None else "-"
    print(f"members ({len(members)}): {names}  [leader {lead}]", flush=True)


async def _main_asyncio(config: Config, options: MemberOptions, args: argparse.Namespace) -> int:
    """The asyncio driver, or with ``--driver thread`` the thread driver bridged to asyncio."""
    from swimcore.transports import AsyncioMember, BridgedMember  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async def wait_stop(timeout: float) -> bool:
        try:
            await asyncio.wait_for(stop.wait(), timeout)
        except TimeoutError:
            return False
        return True

    member = (
        BridgedMember(config, options=options)
        if args.driver == "thread"
        else AsyncioMember(config, options=options)
    )
    async with member:
        await _serve(member, args, wait_stop)
    return 0


async def _main_anyio(config: Config, options: MemberOptions, args: argparse.Namespace) -> int:
    import anyio  # noqa: PLC0415

    from swimcore.transports import AnyioMember  # noqa: PLC0415

    stop = anyio.Event()

    async def watch_signals() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                stop.set()
                return

    async def wait_stop(timeout: float) -> bool:
        with anyio.move_on_after(timeout):
            await stop.wait()
        return stop.is_set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch_signals)
        async with AnyioMember(config, options=options) as member:
            await _serve(member, args, wait_stop)
        tasks.cancel_scope.cancel()
    return 0
