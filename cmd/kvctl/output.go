package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/quorumkv/quorumkv/client"
)

// encodingBase64 is the "encoding" field of an object whose key and values
// (or members) are base64 because one of them is not UTF-8.
const encodingBase64 = "base64"

// printJSON writes v as one JSON object on stdout.
func (g *globalOptions) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printFailure prints what a failed key operation still shows on stdout in
// json mode: the command's object (built by object) with its receipt, when
// the request reached a coordinator. Text mode prints nothing on stdout. It
// returns err.
func (g *globalOptions) printFailure(err error, object func(client.Receipt) any) error {
	var ce *client.Error
	if !g.json() || !errors.As(err, &ce) || ce.Receipt == nil {
		return err
	}
	if perr := g.printJSON(object(*ce.Receipt)); perr != nil {
		return errors.Join(err, perr)
	}
	return err
}

// encodeBytes renders key and items for JSON: as strings when all are valid
// UTF-8, otherwise all base64 (standard encoding) with encoding "base64".
// Items is never nil.
func encodeBytes(key []byte, items [][]byte) (k string, out []string, encoding string) {
	text := utf8.Valid(key)
	for _, it := range items {
		text = text && utf8.Valid(it)
	}
	out = make([]string, 0, len(items))
	if text {
		for _, it := range items {
			out = append(out, string(it))
		}
		return string(key), out, ""
	}
	for _, it := range items {
		out = append(out, base64.StdEncoding.EncodeToString(it))
	}
	return base64.StdEncoding.EncodeToString(key), out, encodingBase64
}

// printLines writes each item followed by a newline, bytes as they are.
func (g *globalOptions) printLines(items [][]byte) error {
	for _, it := range items {
		if _, err := g.stdout.Write(append(it[:len(it):len(it)], '\n')); err != nil {
			return err
		}
	}
	return nil
}

// writeRows writes rows as an aligned table (text/tabwriter, two spaces
// between columns).
func writeRows(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		for i, cell := range r {
			sep := "\t"
			if i == len(r)-1 {
				sep = "\n"
			}
			if _, err := io.WriteString(tw, cell+sep); err != nil {
				return err
			}
		}
	}
	return tw.Flush()
}

// keyReceiptJSON is the -o json object of put, delete, sadd and srem, and
// of a failed get or smembers (which print no values or members).
type keyReceiptJSON struct {
	Key      string         `json:"key"`
	Encoding string         `json:"encoding,omitempty"`
	Receipt  client.Receipt `json:"receipt"`
}

func newKeyReceiptJSON(key []byte, r client.Receipt) keyReceiptJSON {
	k, _, enc := encodeBytes(key, nil)
	return keyReceiptJSON{Key: k, Encoding: enc, Receipt: r}
}

// okLine is what a write (put, delete, sadd, srem) prints on success in
// text mode.
const okLine = "OK\n"

// writeResult finishes a write (put, delete, sadd, srem): on success it
// prints OK in text mode and {key, receipt} in json mode; on failure it
// prints the receipt it has (json mode) and returns err.
func (g *globalOptions) writeResult(key []byte, r *client.Receipt, err error) error {
	obj := func(r client.Receipt) any { return newKeyReceiptJSON(key, r) }
	if err != nil {
		return g.printFailure(err, obj)
	}
	if g.json() {
		return g.printJSON(obj(*r))
	}
	_, err = io.WriteString(g.stdout, okLine)
	return err
}
