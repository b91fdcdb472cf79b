// memberlist-peer runs one HashiCorp memberlist node on loopback for swimcore's interoperability
// tests.  It prints what happens as JSON lines on stdout and takes one command per line on stdin:
//
//	members                   live members as memberlist lists them
//	states                    every member with its state (0 alive, 1 suspect, 2 dead, 3 left)
//	set-meta TEXT             change this node's metadata and spread it
//	broadcast TEXT            queue a user message for gossip (piggybacked on UDP)
//	send-reliable NAME TEXT   send a user message to NAME over TCP
//	send-best-effort NAME TEXT  send a user message to NAME over UDP
//	join HOST:PORT[,...]      join through these members
//	kv-set KEY VALUE          (with -kv) write KEY in the last-writer-wins store (kv.go)
//	kv-merge JSON             (with -kv) merge JSON as if a peer's push-pull had carried it
//	kv-dump                   (with -kv) the store's state bytes and its merge counts
//	config                    the effective memberlist settings (durations in ms)
//	leave                     leave gracefully (the process keeps running)
//	quit                      shut down and exit
//
// Member events (join, leave, update) carry "t": CLOCK_MONOTONIC in seconds, read when memberlist
// calls the event delegate; every process on one Linux host shares that clock (Python's
// time.monotonic() reads it too), so a test can time events against its own clock.
//
// Build it with build.sh (GOPATH mode against Debian's golang-github-hashicorp-memberlist-dev).
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"
)

var stateNames = map[int]string{0: "alive", 1: "suspect", 2: "dead", 3: "left"}

type printer struct {
	mu  sync.Mutex
	out *bufio.Writer
}

func (p *printer) emit(fields map[string]interface{}) {
	line, err := json.Marshal(fields)
	if err != nil {
		line = []byte(fmt.Sprintf(`{"event":"error","error":%q}`, err.Error()))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.Write(line)
	p.out.WriteByte('\n')
	p.out.Flush()
}

type textBroadcast struct{ msg []byte }

func (b *textBroadcast) Invalidates(other memberlist.Broadcast) bool { return false }
func (b *textBroadcast) Message() []byte                             { return b.msg }
func (b *textBroadcast) Finished()                                   {}

type delegate struct {
	mu         sync.Mutex
	meta       []byte
	broadcasts *memberlist.TransmitLimitedQueue
	out        *printer
	store      *kvStore // nil without -kv: no application state
}

func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.meta) == 0 {
		return nil
	}
	return append([]byte(nil), d.meta...)
}

func (d *delegate) NotifyMsg(msg []byte) {
	d.out.emit(map[string]interface{}{
		"event": "user", "payload": string(msg), "payload_b64": base64.StdEncoding.EncodeToString(msg),
	})
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.broadcasts.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(join bool) []byte {
	if d.store == nil {
		return nil
	}
	return d.store.state()
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	if d.store != nil {
		d.store.merge(buf) // a refused state is counted (kv-dump's "rejected")
	}
}

// monotonic reads CLOCK_MONOTONIC in seconds (Go's own monotonic reading is not exposed as an
// absolute value, and golang.org/x/sys is not among the build's packages).
func monotonic() float64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

type nodeEvent struct {
	kind string
	node memberlist.Node
	at   float64 // monotonic() when memberlist reported it
}

type events struct{ ch chan nodeEvent }

func (e *events) NotifyJoin(n *memberlist.Node)   { e.ch <- nodeEvent{"join", *n, monotonic()} }
func (e *events) NotifyLeave(n *memberlist.Node)  { e.ch <- nodeEvent{"leave", *n, monotonic()} }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.ch <- nodeEvent{"update", *n, monotonic()} }

func nodeFields(n *memberlist.Node) map[string]interface{} {
	return map[string]interface{}{
		"name": n.Name, "addr": n.Addr.String(), "port": n.Port, "meta": string(n.Meta),
		"vsn": []int{int(n.PMin), int(n.PMax), int(n.PCur), int(n.DMin), int(n.DMax), int(n.DCur)},
	}
}

func main() {
	name := flag.String("name", "", "node name (required)")
	bind := flag.String("bind", "127.0.0.1", "bind address (loopback only in tests)")
	port := flag.Int("port", 0, "bind port (UDP and TCP); 0 picks a free one")
	join := flag.String("join", "", "comma-separated HOST:PORT list to join at start")
	key := flag.String("key", "", "hex AES key (16, 24 or 32 bytes) turning encryption on")
	compress := flag.Bool("compress", false, "compress outgoing messages (LZW)")
	label := flag.String("label", "", "cluster label (memberlist >= 0.3 only)")
	meta := flag.String("meta", "", "initial node metadata")
	probeInterval := flag.Int("probe-interval", 1000, "probe interval in ms")
	probeTimeout := flag.Int("probe-timeout", 500, "probe timeout in ms")
	gossipInterval := flag.Int("gossip-interval", 200, "gossip interval in ms")
	pushPull := flag.Int("push-pull-interval", 30000, "push-pull interval in ms (0: off)")
	suspicionMult := flag.Int("suspicion-mult", 4, "suspicion multiplier")
	retransmitMult := flag.Int("retransmit-mult", 4, "retransmit multiplier")
	indirect := flag.Int("indirect-checks", 3, "indirect probes per failed probe")
	protocol := flag.Int("protocol-version", 2, "protocol version to speak (1..5)")
	tcpTimeout := flag.Int("tcp-timeout", 2000, "TCP timeout in ms")
	noTCPPing := flag.Bool("disable-tcp-pings", false, "turn the TCP fallback ping off")
	withKV := flag.Bool("kv", false, "keep a last-writer-wins store in the push-pull state (kv.go)")
	verbose := flag.Bool("log", false, "memberlist's log on stderr")
	flag.Parse()

	out := &printer{out: bufio.NewWriter(os.Stdout)}
	fail := func(err error) {
		out.emit(map[string]interface{}{"event": "fatal", "error": err.Error()})
		os.Exit(1)
	}
	if *name == "" {
		fail(fmt.Errorf("-name is required"))
	}
	if *label != "" {
		fail(fmt.Errorf("this memberlist build has no cluster labels (added in 0.3.0)"))
	}

	if *port == 0 {
		// memberlist would advertise port 0: pick a free one first.
		probe, err := net.Listen("tcp", net.JoinHostPort(*bind, "0"))
		if err != nil {
			fail(err)
		}
		*port = probe.Addr().(*net.TCPAddr).Port
		probe.Close()
	}

	conf := memberlist.DefaultLANConfig()
	conf.Name = *name
	conf.BindAddr = *bind
	conf.BindPort = *port
	conf.AdvertiseAddr = *bind
	conf.AdvertisePort = *port
	conf.ProbeInterval = time.Duration(*probeInterval) * time.Millisecond
	conf.ProbeTimeout = time.Duration(*probeTimeout) * time.Millisecond
	conf.GossipInterval = time.Duration(*gossipInterval) * time.Millisecond
	conf.PushPullInterval = time.Duration(*pushPull) * time.Millisecond
	conf.SuspicionMult = *suspicionMult
	conf.RetransmitMult = *retransmitMult
	conf.IndirectChecks = *indirect
	conf.ProtocolVersion = uint8(*protocol)
	conf.TCPTimeout = time.Duration(*tcpTimeout) * time.Millisecond
	conf.DisableTcpPings = *noTCPPing
	conf.EnableCompression = *compress
	if *verbose {
		conf.LogOutput = os.Stderr
	} else {
		conf.LogOutput = io.Discard
	}
	if *key != "" {
		raw, err := hex.DecodeString(*key)
		if err != nil {
			fail(fmt.Errorf("-key: %v", err))
		}
		conf.SecretKey = raw
	}

	del := &delegate{meta: []byte(*meta), out: out}
	if *withKV {
		del.store = newKVStore(*name)
	}
	ev := &events{ch: make(chan nodeEvent, 4096)}
	conf.Delegate = del
	conf.Events = ev

	list, err := memberlist.Create(conf)
	if err != nil {
		fail(err)
	}
	del.broadcasts = &memberlist.TransmitLimitedQueue{NumNodes: list.NumMembers, RetransmitMult: *retransmitMult}

	// Events are printed from their own goroutine: memberlist calls the delegate with its node
	// lock held, and the state of a leaving member can only be read once that lock is free.
	go func() {
		for e := range ev.ch {
			fields := nodeFields(&e.node)
			fields["event"] = e.kind
			fields["t"] = e.at
			state, inc, ok := list.SwimcorePeekState(e.node.Name)
			if ok {
				fields["state"] = stateNames[state]
				fields["incarnation"] = inc
			}
			out.emit(fields)
		}
	}()

	local := list.LocalNode()
	out.emit(map[string]interface{}{"event": "ready", "name": local.Name, "addr": local.Addr.String(), "port": local.Port})

	doJoin := func(spec string) {
		n, err := list.Join(strings.Split(spec, ","))
		fields := map[string]interface{}{"event": "joined", "contacted": n}
		if err != nil {
			fields["error"] = err.Error()
		}
		out.emit(fields)
	}
	if *join != "" {
		doJoin(*join)
	}

	findNode := func(target string) *memberlist.Node {
		for _, n := range list.Members() {
			if n.Name == target {
				return n
			}
		}
		return nil
	}

	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		cmd, rest, _ := strings.Cut(line, " ")
		switch cmd {
		case "":
		case "members":
			rows := []map[string]interface{}{}
			for _, n := range list.Members() {
				rows = append(rows, nodeFields(n))
			}
			out.emit(map[string]interface{}{"event": "members", "members": rows})
		case "states":
			rows := []map[string]interface{}{}
			for _, s := range list.SwimcoreAllStates() {
				rows = append(rows, map[string]interface{}{
					"name": s.Name, "addr": s.Addr, "port": s.Port, "meta": s.Meta,
					"state": stateNames[s.State], "incarnation": s.Incarnation, "vsn": s.Vsn,
				})
			}
			out.emit(map[string]interface{}{"event": "states", "members": rows})
		case "set-meta":
			del.mu.Lock()
			del.meta = []byte(rest)
			del.mu.Unlock()
			err := list.UpdateNode(2 * time.Second)
			fields := map[string]interface{}{"event": "meta-set", "meta": rest}
			if err != nil {
				fields["error"] = err.Error()
			}
			out.emit(fields)
		case "broadcast":
			del.broadcasts.QueueBroadcast(&textBroadcast{msg: []byte(rest)})
			out.emit(map[string]interface{}{"event": "queued", "payload": rest})
		case "send-reliable", "send-best-effort":
			target, payload, _ := strings.Cut(rest, " ")
			node := findNode(target)
			fields := map[string]interface{}{"event": "sent", "to": target, "payload": payload}
			if node == nil {
				fields["error"] = "unknown member"
			} else if cmd == "send-reliable" {
				err = list.SendReliable(node, []byte(payload))
			} else {
				err = list.SendBestEffort(node, []byte(payload))
			}
			if node != nil && err != nil {
				fields["error"] = err.Error()
			}
			out.emit(fields)
		case "join":
			doJoin(rest)
		case "kv-set", "kv-merge", "kv-dump":
			out.emit(kvCommand(del.store, cmd, rest))
		case "config":
			out.emit(configFields(conf))
		case "leave":
			err := list.Leave(2 * time.Second)
			fields := map[string]interface{}{"event": "left"}
			if err != nil {
				fields["error"] = err.Error()
			}
			out.emit(fields)
		case "quit":
			list.Shutdown()
			out.emit(map[string]interface{}{"event": "bye"})
			return
		default:
			out.emit(map[string]interface{}{"event": "error", "error": "unknown command " + cmd})
		}
	}
	// stdin closed: the test runner went away.
	list.Shutdown()
	if err := scanner.Err(); err != nil {
		log.Print(err)
	}
}

// configFields lists the settings that decide how fast a failure is detected, as memberlist
// holds them after the flags were applied (durations in milliseconds).
func configFields(c *memberlist.Config) map[string]interface{} {
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	return map[string]interface{}{
		"event":                      "config",
		"probe_interval_ms":          ms(c.ProbeInterval),
		"probe_timeout_ms":           ms(c.ProbeTimeout),
		"suspicion_mult":             c.SuspicionMult,
		"suspicion_max_timeout_mult": c.SuspicionMaxTimeoutMult,
		"indirect_checks":            c.IndirectChecks,
		"gossip_interval_ms":         ms(c.GossipInterval),
		"gossip_nodes":               c.GossipNodes,
		"retransmit_mult":            c.RetransmitMult,
		"push_pull_interval_ms":      ms(c.PushPullInterval),
		"gossip_to_the_dead_time_ms": ms(c.GossipToTheDeadTime),
		"awareness_max_multiplier":   c.AwarenessMaxMultiplier,
		"disable_tcp_pings":          c.DisableTcpPings,
		"tcp_timeout_ms":             ms(c.TCPTimeout),
		"protocol_version":           c.ProtocolVersion,
	}
}

// kvCommand runs one of the store's commands and says what happened.
func kvCommand(store *kvStore, cmd, rest string) map[string]interface{} {
	fields := map[string]interface{}{"event": cmd}
	if store == nil {
		fields["error"] = "no store: start the peer with -kv"
		return fields
	}
	switch cmd {
	case "kv-set":
		key, value, _ := strings.Cut(rest, " ")
		written := store.set(key, value)
		fields["key"], fields["value"] = key, value
		fields["stamp"], fields["writer"] = written.stamp, written.writer
	case "kv-merge":
		if err := store.merge([]byte(rest)); err != nil {
			fields["error"] = err.Error()
		}
	}
	fields["state"] = string(store.state())
	fields["merged"], fields["rejected"] = store.counts()
	return fields
}
