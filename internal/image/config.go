package image

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// HealthConfig is Docker's healthcheck in an image config.
type HealthConfig struct {
	Test          []string `json:",omitempty"`
	Interval      int64    `json:",omitempty"`
	Timeout       int64    `json:",omitempty"`
	StartPeriod   int64    `json:",omitempty"`
	StartInterval int64    `json:",omitempty"`
	Retries       int      `json:",omitempty"`
}

// RunConfig is the execution part of an image config: OCI's fields plus
// the Docker extensions that OCI lacks, so they survive a round trip.
type RunConfig struct {
	ocispec.ImageConfig
	Healthcheck *HealthConfig `json:"Healthcheck,omitempty"`
	OnBuild     []string      `json:"OnBuild,omitempty"`
	Shell       []string      `json:"Shell,omitempty"`
}

// Config is an OCI/Docker image config as stored in the content store.
type Config struct {
	ocispec.Image
	Config        RunConfig `json:"config,omitzero"`
	Comment       string    `json:"comment,omitempty"`
	DockerVersion string    `json:"docker_version,omitempty"`
	Parent        string    `json:"parent,omitempty"`
}
