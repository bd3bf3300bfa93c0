package gentcp

import "strconv"

// The Go forms of Erlang's HttpPacket (erlang:decode_packet/3), what the
// HTTP packet types deliver: RecvHTTP returns them and active sockets send
// them in an HTTP message. Strings are Go strings holding the bytes as
// sent; Bin records that the socket's type was http_bin or httph_bin,
// where Erlang gives binaries (<<"/">>), rather than http or httph, where
// it gives lists ("/"). The socket's mode (binary or list) plays no part,
// nor does {header,N}.

// HTTP is {http,Socket,HttpPacket}: a packet received by an active socket
// whose packet type is http, httph, http_bin or httph_bin. With
// {deliver,port} such a socket sends PortData with the raw line instead,
// as OTP does.
type HTTP struct {
	// Socket is the socket the packet came from.
	Socket *Socket
	// Packet is the parsed line.
	Packet HTTPPacket
}

// HTTPPacket is one of HTTPRequest, HTTPResponse, HTTPHeader, HTTPEOH and
// HTTPError. String prints it in Erlang syntax.
type HTTPPacket interface {
	// String prints the packet as Erlang would print the term.
	String() string
	httpPacket()
}

// HTTPVersion is {Major,Minor}. A request line without a version is
// HTTP/0.9's: {0,9}.
type HTTPVersion struct {
	// Major and Minor are the numbers of HTTP/Major.Minor.
	Major, Minor int
}

// HTTPRequest is {http_request,Method,Uri,Version}: a request line.
type HTTPRequest struct {
	// Method is as sent. Erlang gives OPTIONS, GET, HEAD, POST, PUT,
	// DELETE and TRACE as atoms, other methods (PATCH, get) as strings:
	// KnownMethod says which.
	Method string
	// URI is the request's target, sorted as OTP sorts it.
	URI HTTPURI
	// Version is the request line's HTTP version.
	Version HTTPVersion
	// Bin is true for http_bin and httph_bin: Erlang gives binaries
	// where http gives strings.
	Bin bool
}

// HTTPResponse is {http_response,Version,Status,Reason}: a status line.
// Reason is the rest of the line, blanks included; Status is 0 when the
// line ends after the version.
type HTTPResponse struct {
	// Version is the status line's HTTP version.
	Version HTTPVersion
	// Status is the status code.
	Status int
	// Reason is the reason phrase.
	Reason string
	// Bin is true for http_bin and httph_bin.
	Bin bool
}

// HTTPHeader is {http_header,Index,Field,UnmodifiedField,Value}: a header
// line, with the lines that continue it (their CRLF and leading blank kept
// in Value, as OTP keeps them).
type HTTPHeader struct {
	// Field is the name in OTP's case (Content-Type for content-TYPE).
	// Erlang gives the 52 fields it knows as atoms ('Content-Type') and
	// others as strings ("X-Request-Id"): Index says which.
	Field string
	// UnmodifiedField is the name as sent.
	UnmodifiedField string
	// Value is what follows the colon and the blanks after it; trailing
	// blanks are kept.
	Value string
	// Bin is true for http_bin and httph_bin.
	Bin bool
}

// HTTPEOH is http_eoh: the empty line that ends the headers. The socket
// reads a start line next.
type HTTPEOH struct{}

// HTTPError is {http_error,Line}: a line that does not parse, as sent
// (with its CRLF). The socket stays in the state it was in: a bad header
// line is followed by the next header.
type HTTPError struct {
	// Line is the line that did not parse.
	Line string
	// Bin is true for http_bin and httph_bin.
	Bin bool
}

// HTTPURIKind says which of Erlang's HttpUri forms an HTTPURI is.
type HTTPURIKind int

const (
	// URIAbsPath is {abs_path,Path}: a URI that starts with a slash (or
	// has at most one byte).
	URIAbsPath HTTPURIKind = iota
	// URIAbsolute is {absoluteURI,http|https,Host,Port,Path}: an
	// http:// or https:// URI, in any case.
	URIAbsolute
	// URIScheme is {scheme,Scheme,Rest}: another URI with a colon
	// (mailto:x@y); Path holds what follows the colon.
	URIScheme
	// URIStar is '*' (OPTIONS * HTTP/1.1).
	URIStar
	// URIString is any other URI, as a string (in Path).
	URIString
)

// HTTPURI is a request's URI, sorted as OTP sorts it.
type HTTPURI struct {
	// Kind is which of Erlang's HttpUri forms this is.
	Kind HTTPURIKind
	// Scheme is "http" or "https" for URIAbsolute (an atom in Erlang,
	// lower case whatever was sent) and the scheme as sent for URIScheme.
	Scheme string
	// Host and Port are URIAbsolute's; Port 0 is undefined (none, or
	// not all digits).
	Host string
	Port int
	// Path is the path (URIAbsPath; URIAbsolute, "/" if none was sent),
	// what follows the scheme's colon (URIScheme) or the whole URI
	// (URIString).
	Path string
}

func (HTTPRequest) httpPacket()  {}
func (HTTPResponse) httpPacket() {}
func (HTTPHeader) httpPacket()   {}
func (HTTPEOH) httpPacket()      {}
func (HTTPError) httpPacket()    {}

// httpMethods are the methods OTP gives as atoms.
var httpMethods = map[string]bool{
	"OPTIONS": true, "GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true, "TRACE": true,
}

// httpFields are the header fields OTP gives as atoms, in OTP's order:
// the position (from 1) is the header's Index.
var httpFields = []string{
	"Cache-Control", "Connection", "Date", "Pragma", "Transfer-Encoding", "Upgrade", "Via",
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization", "From",
	"Host", "If-Modified-Since", "If-Match", "If-None-Match", "If-Range", "If-Unmodified-Since",
	"Max-Forwards", "Proxy-Authorization", "Range", "Referer", "User-Agent", "Age", "Location",
	"Proxy-Authenticate", "Public", "Retry-After", "Server", "Vary", "Warning",
	"Www-Authenticate", "Allow", "Content-Base", "Content-Encoding", "Content-Language",
	"Content-Length", "Content-Location", "Content-Md5", "Content-Range", "Content-Type", "Etag",
	"Expires", "Last-Modified", "Accept-Ranges", "Set-Cookie", "Set-Cookie2", "X-Forwarded-For",
	"Cookie", "Keep-Alive", "Proxy-Connection",
}

// httpFieldIndex maps each of httpFields to its Index.
var httpFieldIndex = func() map[string]int {
	m := make(map[string]int, len(httpFields))
	for i, f := range httpFields {
		m[f] = i + 1
	}
	return m
}()

// KnownMethod reports whether Erlang gives the method as an atom.
func (r HTTPRequest) KnownMethod() bool { return httpMethods[r.Method] }

// Index is the header's number in OTP's list of known fields (1 for
// Cache-Control, 14 for Host, 38 for Content-Length, ...), the second
// element of Erlang's tuple, and 0 for a field Erlang gives as a string.
func (h HTTPHeader) Index() int { return httpFieldIndex[h.Field] }

// httpStr prints an HttpString: a list or a binary.
func httpStr(s string, bin bool) string {
	if bin {
		return erlBinary([]byte(s))
	}
	return erlString([]byte(s))
}

// String prints the version as Erlang's {Major,Minor}.
func (v HTTPVersion) String() string {
	return "{" + strconv.Itoa(v.Major) + "," + strconv.Itoa(v.Minor) + "}"
}

// String prints {http_request,Method,Uri,Version}.
func (r HTTPRequest) String() string {
	m := httpStr(r.Method, r.Bin)
	if r.KnownMethod() {
		m = "'" + r.Method + "'"
	}
	return "{http_request," + m + "," + r.URI.string(r.Bin) + "," + r.Version.String() + "}"
}

// String prints {http_response,Version,Status,Reason}.
func (r HTTPResponse) String() string {
	return "{http_response," + r.Version.String() + "," + strconv.Itoa(r.Status) + "," + httpStr(r.Reason, r.Bin) + "}"
}

// String prints {http_header,Index,Field,UnmodifiedField,Value}.
func (h HTTPHeader) String() string {
	f := httpStr(h.Field, h.Bin)
	if h.Index() > 0 {
		f = "'" + h.Field + "'"
	}
	return "{http_header," + strconv.Itoa(h.Index()) + "," + f + "," + httpStr(h.UnmodifiedField, h.Bin) + "," + httpStr(h.Value, h.Bin) + "}"
}

// String prints http_eoh.
func (HTTPEOH) String() string { return "http_eoh" }

// String prints {http_error,Line}.
func (e HTTPError) String() string { return "{http_error," + httpStr(e.Line, e.Bin) + "}" }

// String prints the URI as Erlang's HttpUri, with strings as lists (use
// the packet's String for its own presentation).
func (u HTTPURI) String() string { return u.string(false) }

func (u HTTPURI) string(bin bool) string {
	switch u.Kind {
	case URIStar:
		return "'*'"
	case URIAbsPath:
		return "{abs_path," + httpStr(u.Path, bin) + "}"
	case URIAbsolute:
		port := "undefined"
		if u.Port != 0 {
			port = strconv.Itoa(u.Port)
		}
		return "{absoluteURI," + u.Scheme + "," + httpStr(u.Host, bin) + "," + port + "," + httpStr(u.Path, bin) + "}"
	case URIScheme:
		return "{scheme," + httpStr(u.Scheme, bin) + "," + httpStr(u.Path, bin) + "}"
	}
	return httpStr(u.Path, bin)
}
