package normalize

import "errors"

var (
	// ErrTableName is returned for a table name that is empty or not valid
	// UTF-8. Any other name is accepted: it is only a name.
	ErrTableName = errors.New("normalize: bad table name")
	// ErrConfig is returned by New for an invalid Config or known tables
	// that contradict it.
	ErrConfig = errors.New("normalize: invalid config")
	// ErrUnsupported is returned for a value that cannot be normalized: a
	// channel, a function, a complex number, a *big.Rat without a finite
	// decimal expansion, invalid json.Number text, or a value encoding/json
	// cannot encode.
	ErrUnsupported = errors.New("normalize: unsupported value")
	// ErrCoerce is returned when a value fits neither its column nor the
	// variant column for its type (a user column already took the variant's
	// name with another type), like dlt's CannotCoerceColumnException.
	ErrCoerce = errors.New("normalize: cannot coerce value")
)
