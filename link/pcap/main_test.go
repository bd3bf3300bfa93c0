package pcap_test

import (
	"testing"

	"github.com/usertcp/usertcp/internal/testutil/linktest"
)

// TestMain turns on gVisor's reference leak tracking for linktest.CheckRefs.
func TestMain(m *testing.M) { linktest.Main(m) }
