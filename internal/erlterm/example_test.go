package erlterm_test

import (
	"fmt"

	"github.com/usertcp/usertcp/internal/erlterm"
)

func ExampleParse() {
	t, err := erlterm.Parse(`[binary, {packet, 4}, {active, once}, {line_delimiter, $\n}]`)
	if err != nil {
		panic(err)
	}
	for _, opt := range t.(erlterm.List) {
		fmt.Println(opt)
	}

	_, err = erlterm.Parse("{packet,,4}")
	fmt.Println(err)
	// Output:
	// binary
	// {packet,4}
	// {active,once}
	// {line_delimiter,10}
	// unexpected ',' at line 1 column 9, expected a term
}
