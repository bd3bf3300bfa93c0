package delay

// Validate reports whether New and SetConfig would accept c: nil, or an
// error wrapping ErrInvalidConfig that names the first field out of range.
// A link that stores a Config before it builds the Endpoint (link/memlink's
// per-pair impairments) checks it with Validate when it is given.
func (c Config) Validate() error { return c.validate() }
