package gateway

import (
	"errors"
	"sort"
)

// joinErrs joins in a stable order; map iteration feeds some callers.
func joinErrs(errs []error) error {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}
