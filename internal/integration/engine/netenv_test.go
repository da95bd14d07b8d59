package engine

import (
	"github.com/berth-project/berth/internal/integration/harness"
)

// netSettings are the test daemon's own link prefix, nftables table and
// address pool (see harness.NetSettings).
type netSettings = harness.NetSettings

var newNetSettings = harness.NewNetSettings
