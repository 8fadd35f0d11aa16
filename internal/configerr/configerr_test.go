package configerr

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPrefix(t *testing.T) {
	err := errors.Join(
		Field("countries", "XX", "not a country"),
		errors.Join(Field("", nil, "is required"), errors.New("plain problem")),
	)
	var got []string
	for _, e := range Flatten(Prefix("geoblock", err)) {
		got = append(got, e.Error())
	}
	want := []string{
		`geoblock.countries: "XX": not a country`,
		`geoblock: is required`,
		`geoblock: plain problem`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Prefix (-want +got):\n%s", diff)
	}
	if Prefix("x", nil) != nil {
		t.Error("Prefix(nil) != nil")
	}
	if Flatten(nil) != nil {
		t.Error("Flatten(nil) != nil")
	}
}
