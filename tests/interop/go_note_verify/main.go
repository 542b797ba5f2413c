// go_note_verify: checks a signed note with golang.org/x/mod/sumdb/note, the reference C2SP
// signed-note implementation (from Debian's golang-golang-x-mod-dev), so our checkpoints are
// judged by code we did not write.
//
//	go_note_verify VERIFIER-KEY NOTE-FILE
//
// Prints the verified note text and exits 0, or prints the error and exits 1.
package main

import (
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_note_verify VERIFIER-KEY NOTE-FILE")
		os.Exit(2)
	}
	verifier, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "verifier key:", err)
		os.Exit(1)
	}
	msg, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fmt.Fprintln(os.Stderr, "note:", err)
		os.Exit(1)
	}
	fmt.Print(n.Text)
}
