package node

// Exported for the external tests of package node_test (they live outside
// the package because they start a real server, which imports this one).
const (
	ReasonNodeAgentRestarted = reasonNodeAgentRestarted
	MessageLostFormat        = messageLostFormat
)

var (
	ParseLogOptions = parseLogOptions
	LogContainerID  = logContainerID
)

// SetTokenRefreshFraction changes when tokens are renewed until the test
// ends.
func SetTokenRefreshFraction(t interface{ Cleanup(func()) }, f float64) {
	old := tokenRefreshFraction
	tokenRefreshFraction = f
	t.Cleanup(func() { tokenRefreshFraction = old })
}
