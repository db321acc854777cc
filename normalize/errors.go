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
	// variant column for its type, like dlt's CannotCoerceColumnException.
	// It happens only with a stored schema that predates Table.Keys, where
	// a key's column may have the variant's name and another type; otherwise
	// a variant whose name a key has takes the next free suffix.
	ErrCoerce = errors.New("normalize: cannot coerce value")
	// ErrTooManyColumns is returned for a row that would add a column to a
	// table that has Config.MaxColumns columns already. The row is not
	// emitted and the table does not change.
	ErrTooManyColumns = errors.New("normalize: too many columns")
)
