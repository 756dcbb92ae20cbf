package registry

import (
	"fmt"
	"unicode/utf8"
)

// TextError says that a free-text field holds a character that could
// rewrite a terminal or reorder what a reader sees: a C0 or C1 control
// character (ESC, CR, LF, TAB, ...), DEL, a bidirectional override or
// isolate, or bytes that are not UTF-8. Such text is refused on input, so
// that nothing stored can inject into the screen of whoever lists it.
type TextError struct {
	Field  string
	Offset int  // byte offset of the character
	Rune   rune // utf8.RuneError for bytes that are not UTF-8
}

func (e *TextError) Error() string {
	if e.Rune == utf8.RuneError {
		return fmt.Sprintf("%s: not valid UTF-8 at byte %d", e.Field, e.Offset)
	}
	return fmt.Sprintf("%s: control character %U at byte %d is not allowed in text", e.Field, e.Rune, e.Offset)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *TextError) Is(target error) bool { return target == ErrInvalid }

// Unsafe reports whether r may not appear in stored text (see TextError).
func Unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // bidi embeddings, overrides, isolates and marks
	}
	return r == utf8.RuneError
}

// CheckText refuses s for the field if it holds an unsafe character.
func CheckText(field, s string) error {
	for i, r := range s {
		if Unsafe(r) {
			if r == utf8.RuneError {
				if _, n := utf8.DecodeRuneInString(s[i:]); n == 3 {
					continue // a real U+FFFD, written as such
				}
			}
			return &TextError{Field: field, Offset: i, Rune: r}
		}
	}
	return nil
}

// checkTexts checks pairs of field name and value.
func checkTexts(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := CheckText(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}
