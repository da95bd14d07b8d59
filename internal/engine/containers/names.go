package containers

import (
	"fmt"
	"math/rand/v2"
)

var (
	adjectives = []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "proud", "quirky", "sharp", "tender", "vivid", "witty", "zen", "bold", "clever"}
	nouns      = []string{"turing", "lovelace", "hopper", "ritchie", "thompson", "knuth", "dijkstra", "liskov", "torvalds", "pike", "cerf", "hamilton", "shannon", "noether", "curie", "darwin", "euler", "gauss", "kepler", "tesla"}
)

// generateName picks a free Docker-style adjective_noun name.
func (s *Service) generateName() string {
	for i := 0; ; i++ {
		name := adjectives[rand.IntN(len(adjectives))] + "_" + nouns[rand.IntN(len(nouns))]
		if i > 3 {
			name = fmt.Sprintf("%s%d", name, rand.IntN(1000))
		}
		if !s.store.NameInUse(name) {
			return name
		}
	}
}
