package main

// newSiblingsWorkload is the register workload on a siblings cluster:
// concurrent blind and read-modify-write puts; checkSiblings checks that
// every acknowledged value is present or causally superseded.
func newSiblingsWorkload() *registerWorkload {
	return &registerWorkload{policy: "siblings", name: "siblings"}
}
