package containers

import (
	"strconv"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/errdefs"
)

// Default json-file rotation: users lose disks to unrotated logs. The
// local driver's defaults are Docker's (20 MB × 5, compressed).
const (
	DefaultLogMaxSize  = 10 << 20
	DefaultLogMaxFiles = 3

	localLogMaxSize  = 20 << 20
	localLogMaxFiles = 5
)

// logSettings is a container's log driver and its rotation.
type logSettings struct {
	driver   string // json-file, local or none
	maxSize  int64  // 0: no rotation
	maxFiles int
	compress bool
}

// commonLogOpts are the options every file driver accepts (log tags and
// attributes, which berth's formats have no field for).
var commonLogOpts = map[string]bool{"labels": true, "labels-regex": true, "env": true, "env-regex": true, "tag": true}

// parseLogConfig validates --log-driver and --log-opt with Docker's
// words; jsonMaxSize and jsonMaxFiles are the json-file defaults.
func parseLogConfig(lc container.LogConfig, jsonMaxSize int64, jsonMaxFiles int) (logSettings, error) {
	ls := logSettings{driver: lc.Type}
	switch lc.Type {
	case "", "json-file":
		ls.driver, ls.maxSize, ls.maxFiles = "json-file", jsonMaxSize, jsonMaxFiles
	case "local":
		ls.maxSize, ls.maxFiles, ls.compress = localLogMaxSize, localLogMaxFiles, true
	case "none":
		for k := range lc.Config {
			return ls, errdefs.InvalidArgumentf("unknown log opt '%s' for none log driver", k)
		}
		return ls, nil
	default:
		return ls, errdefs.InvalidArgumentf("logger: no log driver named '%s' is registered", lc.Type)
	}
	compressSet := false
	for k, v := range lc.Config {
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return ls, errdefs.InvalidArgumentf("invalid value for max-size: %s: %v", v, err)
			}
			if n < 0 {
				n = 0 // -1: no rotation, as Docker's json-file
			}
			ls.maxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil {
				return ls, errdefs.InvalidArgumentf("invalid value for max-file: %s: %v", v, err)
			}
			if n < 1 {
				return ls, errdefs.InvalidArgumentf("max-file cannot be less than 1")
			}
			ls.maxFiles = n
		case "compress":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return ls, errdefs.InvalidArgumentf("invalid boolean value for compress: %s", v)
			}
			ls.compress, compressSet = b, true
		default:
			if !commonLogOpts[k] {
				if ls.driver == "local" {
					return ls, errdefs.InvalidArgumentf("unknown log opt '%s' for log driver local", k)
				}
				return ls, errdefs.InvalidArgumentf("unknown log opt '%s' for json-file log driver", k)
			}
		}
	}
	if ls.compress && ls.maxFiles < 2 {
		if ls.driver == "local" && !compressSet {
			ls.compress = false
		} else {
			return ls, errdefs.InvalidArgumentf("compress cannot be true when max-file is less than 2")
		}
	}
	if ls.maxSize == 0 {
		ls.maxFiles = 1
	}
	return ls, nil
}
