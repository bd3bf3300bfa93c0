//go:build !race

package gentcp

const raceEnabled = false
