package gentcp

// Queued is the length of s's send queue, what the cork holds included
// (send_pend leaves that out): for tests that tell a send written at once
// from one left for the drain.
func Queued(s *Socket) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sqLen
}
