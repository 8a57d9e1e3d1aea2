package projections

// SignalForTest is the channel the next Notify that wakes Follow closes.
func (m *Materializer) SignalForTest() <-chan struct{} { return m.signal() }
