// go_tiles_verify: reads a log served as C2SP tlog-tiles with golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog (Debian's golang-golang-x-mod-dev), the Go checksum database's
// code that tlog-tiles grew out of, so our tiles are judged by code we did not write.
//
//	go_tiles_verify PREFIX-URL CA-FILE VERIFIER-KEY
//
// Fetches PREFIX-URL/checkpoint and verifies its signature; rebuilds the tree hash from the hash
// tiles (tlog.TileHashReader authenticates every tile it reads against the checkpoint's root);
// then for every entry of every entry bundle checks an inclusion proof made from those tiles.
// tlog's tile paths carry the tile height ("tile/8/<L>/<N>", "tile/8/data/<N>"); tlog-tiles
// paths do not ("tile/<L>/<N>", "tile/entries/<N>"), so paths are remapped.
// Prints "<size> <base64 root>" and exits 0, or prints the error and exits 1.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type tileReader struct {
	client *http.Client
	prefix string
	cache  map[string][]byte
}

func ourPath(t tlog.Tile) string {
	p := t.Path()
	if strings.HasPrefix(p, "tile/8/data/") {
		return "tile/entries/" + strings.TrimPrefix(p, "tile/8/data/")
	}
	return "tile/" + strings.TrimPrefix(p, "tile/8/")
}

func (r *tileReader) get(path string) ([]byte, error) {
	if data, ok := r.cache[path]; ok {
		return data, nil
	}
	resp, err := r.client.Get(r.prefix + "/" + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, data)
	}
	r.cache[path] = data
	return data, nil
}

func (r *tileReader) Height() int { return height }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := r.get(ourPath(t))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: go_tiles_verify PREFIX-URL CA-FILE VERIFIER-KEY")
		os.Exit(2)
	}
	pem, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fail("no certificate in %s", os.Args[2])
	}
	r := &tileReader{
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}},
		prefix: strings.TrimSuffix(os.Args[1], "/"),
		cache:  map[string][]byte{},
	}
	verifier, err := note.NewVerifier(os.Args[3])
	if err != nil {
		fail("verifier key: %v", err)
	}
	signed, err := r.get("checkpoint")
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	// tlog-checkpoint: origin, size, base64 root (tlog.ParseTree wants the go.sum header).
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint: unexpected text %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("checkpoint root: %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)

	hashes := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, r)
	computed, err := tlog.TreeHash(size, hashes)
	if err != nil {
		fail("tree hash from tiles: %v", err)
	}
	if computed != root {
		fail("tree hash from tiles %v differs from the checkpoint's %v", computed, root)
	}

	for start := int64(0); start < size; start += 1 << height {
		width := size - start
		if width > 1<<height {
			width = 1 << height
		}
		bundle, err := r.get(ourPath(tlog.Tile{H: height, L: -1, N: start >> height, W: int(width)}))
		if err != nil {
			fail("%v", err)
		}
		for i := start; i < start+width; i++ {
			if len(bundle) < 2 {
				fail("entry bundle at %d ends early", start)
			}
			length := int(binary.BigEndian.Uint16(bundle))
			if len(bundle) < 2+length {
				fail("entry %d is cut short", i)
			}
			entry := bundle[2 : 2+length]
			bundle = bundle[2+length:]
			proof, err := tlog.ProveRecord(size, i, hashes)
			if err != nil {
				fail("proof of entry %d from tiles: %v", i, err)
			}
			if err := tlog.CheckRecord(proof, size, root, i, tlog.RecordHash(entry)); err != nil {
				fail("entry %d: %v", i, err)
			}
		}
		if len(bundle) != 0 {
			fail("entry bundle at %d has %d bytes after its entries", start, len(bundle))
		}
	}
	fmt.Printf("%d %s\n", size, base64.StdEncoding.EncodeToString(root[:]))
}
