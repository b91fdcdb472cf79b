package memberlist

// This file is not part of memberlist: tests/memberlist_peer/build.sh adds it to the package at
// build time (go build -overlay) so that the test peer can tell a member that left from one that
// failed.  memberlist 0.2.x reports both through EventDelegate.NotifyLeave and keeps the state
// in an unexported field.

// SwimcorePeekState returns the state (0 alive, 1 suspect, 2 dead, 3 left) and incarnation
// this node holds for the member called name, and false when it does not know that member.
func (m *Memberlist) SwimcorePeekState(name string) (int, uint32, bool) {
	m.nodeLock.RLock()
	defer m.nodeLock.RUnlock()
	n, ok := m.nodeMap[name]
	if !ok {
		return -1, 0, false
	}
	return int(n.State), n.Incarnation, true
}

// SwimcoreAllStates lists every member this node holds, dead and left ones included.
func (m *Memberlist) SwimcoreAllStates() []SwimcoreMemberState {
	m.nodeLock.RLock()
	defer m.nodeLock.RUnlock()
	out := make([]SwimcoreMemberState, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, SwimcoreMemberState{
			Name: n.Name, Addr: n.Addr.String(), Port: n.Port, Meta: string(n.Meta),
			State: int(n.State), Incarnation: n.Incarnation,
			Vsn: []int{int(n.PMin), int(n.PMax), int(n.PCur), int(n.DMin), int(n.DMax), int(n.DCur)},
		})
	}
	return out
}

// SwimcoreMemberState is one row of SwimcoreAllStates.
type SwimcoreMemberState struct {
	Name        string `json:"name"`
	Addr        string `json:"addr"`
	Port        uint16 `json:"port"`
	Meta        string `json:"meta"`
	State       int    `json:"state"`
	Incarnation uint32 `json:"incarnation"`
	Vsn         []int  `json:"vsn"`
}
