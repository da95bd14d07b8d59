module github.com/moby/buildkit

go 1.25

require (
	github.com/agext/levenshtein v1.2.3
	github.com/docker/go-units v0.5.0
	github.com/google/go-cmp v0.7.0
	github.com/moby/docker-image-spec v1.3.1
	github.com/pkg/errors v0.9.1
	github.com/stretchr/testify v1.12.1
	github.com/tonistiigi/go-csvvalue v0.0.0-20240814133006-030d3b2625d0
)

require (
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.0.2 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
