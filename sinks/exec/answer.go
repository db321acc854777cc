package exec

import (
	"fmt"

	"github.com/fanoutbridge/bridge/internal/jsonv"
)

// maxAnswer bounds an answer line; an error text may carry a traceback.
const maxAnswer = 1 << 20

// parseAnswer reads the program's answer to batch id. It returns nil for
// {"ok":true}, a *ProgramError for {"error":...}, and an error wrapping
// ErrProtocol for anything else.
func parseAnswer(line []byte, id string) error {
	v, err := jsonv.Parse(line)
	if err != nil {
		return fmt.Errorf("%w: answer is not JSON (%v): %s", ErrProtocol, err, quoteLine(line))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%w: answer is not a JSON object: %s", ErrProtocol, quoteLine(line))
	}
	got, ok := m["batch"].(string)
	if !ok {
		return fmt.Errorf("%w: answer has no \"batch\" string: %s", ErrProtocol, quoteLine(line))
	}
	if got != id {
		return fmt.Errorf("%w: answer is for batch %q, not %q", ErrProtocol, got, id)
	}
	okv, hasOK := m["ok"]
	errv, hasErr := m["error"]
	switch {
	case hasOK && hasErr:
		return fmt.Errorf("%w: answer has both \"ok\" and \"error\": %s", ErrProtocol, quoteLine(line))
	case hasOK:
		if okv != true {
			return fmt.Errorf("%w: \"ok\" must be true (report a failure with \"error\"): %s", ErrProtocol, quoteLine(line))
		}
		return nil
	case hasErr:
		text, isText := errv.(string)
		if !isText {
			return fmt.Errorf("%w: \"error\" is not a string: %s", ErrProtocol, quoteLine(line))
		}
		term, hasTerm := m["terminal"]
		if hasTerm && term != true && term != false {
			return fmt.Errorf("%w: \"terminal\" is not a bool: %s", ErrProtocol, quoteLine(line))
		}
		if text == "" {
			text = "(no error text)"
		}
		return &ProgramError{Batch: id, Message: text, Terminal: term == true}
	}
	return fmt.Errorf("%w: answer has neither \"ok\" nor \"error\": %s", ErrProtocol, quoteLine(line))
}

// quoteLine quotes a line of output for an error message, shortened.
func quoteLine(b []byte) string {
	const limit = 200
	if len(b) > limit {
		return fmt.Sprintf("%q...", b[:limit])
	}
	return fmt.Sprintf("%q", b)
}
