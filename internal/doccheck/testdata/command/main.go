package main

// Exported is not shown by go doc: a command shows its package doc only.
func Exported() {}

func main() { Exported() }
