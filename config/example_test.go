package config_test

import (
	"errors"
	"fmt"

	"github.com/usertcp/usertcp/config"
)

func ExampleDecode() {
	doc := `
[link]
mtu = 1500
loss = 0.01

[[stack]]
name = "server"
end = "a"
addresses = ["10.0.0.1/24"]

[[stack]]
name = "client"
end = "b"
addresses = ["10.0.0.300/24"]
`
	_, err := config.Decode("example.toml", []byte(doc))
	fmt.Println(err)

	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Println(ce.Line, ce.Key)
	}
	// Output:
	// example.toml:14: stack[1].addresses[0]: "10.0.0.300/24" is not an IP prefix
	// 14 stack[1].addresses[0]
}

func ExampleDefault() {
	c := config.Default()
	for _, s := range c.Stacks {
		fmt.Println(s.Name, s.End, s.Addresses)
	}
	// Output:
	// server a [10.0.0.1/24 fd00:75::1/64]
	// client b [10.0.0.2/24 fd00:75::2/64]
}
