package build

import (
	"context"
	"io"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-project/berth/internal/image"
)

// Layer is one filesystem layer of an image.
type Layer struct {
	DiffID digest.Digest      // digest of the uncompressed layer tar
	Blob   ocispec.Descriptor // the layer blob in the content store
	// Chain is the chain ID of the layers up to this one (the backend's
	// name of the snapshot holding them).
	Chain digest.Digest `json:",omitempty"`
}

// Image is a base image or the result of a stage: its config and layers.
type Image struct {
	ID     digest.Digest // config digest; "" for scratch and built stages
	Config image.Config
	Layers []Layer
}

// Backend is what the dispatchers need from the engine: images, step
// containers, file copies and the build cache. A backend serves one build.
type Backend interface {
	// Image resolves a FROM or --from image reference for platform.
	Image(ctx context.Context, ref string, platform ocispec.Platform) (Image, error)
	// Run runs a RUN step on top of req.Layers and returns the layer of
	// its changes (nil when it changed nothing).
	Run(ctx context.Context, req RunRequest) (*Layer, error)
	// Sources resolves the sources of a COPY or ADD (or a RUN bind mount)
	// and digests their contents for the cache key; the returned Sources
	// is handed back to Copy.
	Sources(ctx context.Context, req SourceRequest) (Sources, error)
	// Copy writes sources into a new layer on top of req.Layers (nil when
	// nothing changed).
	Copy(ctx context.Context, req CopyRequest) (*Layer, error)
	// Mkdir makes dir (WORKDIR) on top of layers; nil when it exists.
	Mkdir(ctx context.Context, layers []Layer, dir, user string) (*Layer, error)
	// CacheGet returns the record of a step key.
	CacheGet(ctx context.Context, key digest.Digest) (CacheRecord, bool)
	// CacheProbe returns the last record stored under a probe key (the
	// step without its inputs), to explain a miss.
	CacheProbe(ctx context.Context, probe digest.Digest) (CacheRecord, bool)
	// CachePut records a step; the backend makes it durable with the build.
	CachePut(ctx context.Context, key, probe digest.Digest, rec CacheRecord) error
}

// CacheRecord is what the cache keeps of a step.
type CacheRecord struct {
	Layer       *Layer    `json:"layer,omitempty"`
	Created     time.Time `json:"created"`
	Instruction string    `json:"instruction"`
	// Inputs, kept to explain a later miss: build args in effect (name
	// -> digest of the value) and the digest of the copied sources.
	Args    map[string]digest.Digest `json:"args,omitempty"`
	Sources digest.Digest            `json:"sources,omitempty"`
	Files   []FileSum                `json:"files,omitempty"`
}

// FileSum is one copied file and the digest of its content and mode.
type FileSum struct {
	Path   string        `json:"p"`
	Digest digest.Digest `json:"d"`
}

// RunRequest describes a RUN step.
type RunRequest struct {
	Layers   []Layer
	Args     []string
	Env      []string
	Cwd      string
	User     string
	Network  string // "default", "none" or "host"
	Mounts   []RunMount
	Platform ocispec.Platform
	// Files are heredoc files to make available at their paths (under
	// /dev/pipes-like temporary locations) before the command runs.
	Files          []InlineFile
	Stdout, Stderr io.Writer
	// Instruction is the Dockerfile text, for error messages.
	Instruction string
}

// InlineFile is a heredoc body handed to RUN.
type InlineFile struct {
	Path string
	Data string
	Mode uint32
}

// RunMount is one --mount of a RUN step.
type RunMount struct {
	Type     string // bind, cache, tmpfs, secret, ssh
	Target   string
	ReadOnly bool
	// bind: Sources is what to mount (from the context, a stage or an image).
	Sources *Sources
	// cache
	CacheID string
	Sharing string
	// secret: ID and the environment variable to set (if any)
	SecretID string
	Env      string
	Required bool
	// tmpfs
	Size int64
	// file ownership and mode (cache, secret)
	Mode     *uint64
	UID, GID *uint64
}

// SourceKind says where copied files come from.
type SourceKind int

const (
	// FromContext is the build context sent with the request.
	FromContext SourceKind = iota
	// FromImage is an image or a finished stage (Image.Layers).
	FromImage
)

// SourceRequest names files of a source.
type SourceRequest struct {
	Kind  SourceKind
	Image Image         // FromImage
	Key   digest.Digest // cache key of the stage or image (FromImage)
	Paths []string      // patterns (may contain wildcards); ADD: also URLs
	// Inline are heredoc sources of COPY/ADD (name -> data).
	Inline []InlineFile
	// AllowURL and Unpack are set for ADD.
	AllowURL bool
	Unpack   bool
	Checksum digest.Digest // ADD --checksum
	Cmd      string        // "COPY" or "ADD", for messages
	Excludes []string      // --exclude patterns
}

// Sources is the resolved set of sources of a copy. Digest covers their
// contents and modes (not times); Files lists them for miss reasons.
type Sources interface {
	Digest() digest.Digest
	Files() []FileSum
	// Count is the number of top-level sources (files, dirs, URLs).
	Count() int
}

// CopyRequest describes a COPY or ADD step.
type CopyRequest struct {
	Layers  []Layer
	Sources Sources
	Dest    string // absolute, with a trailing slash if the user wrote one
	Chown   string // user[:group], resolved in the destination's /etc files
	Chmod   string // octal
	// PreserveOwner keeps the owners of the source (COPY --from without --chown).
	PreserveOwner bool
	Platform      ocispec.Platform
	// SourceDateEpoch, when set, is the time of every file written.
	SourceDateEpoch *time.Time
	Cmd             string
}
