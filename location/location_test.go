package location

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		loc  Location
		want string // substring of the error; "" for valid
	}{
		{"a country alone is a location", Location{Country: "US"}, ""},
		{"a subdivision of the country is valid", Location{Country: "US", Subdivision: "US-VA", City: "Ashburn"}, ""},
		{"Paris is a current subdivision", Location{Country: "FR", Subdivision: "FR-75C"}, ""},
		{"an unknown country is refused", Location{Country: "XX"}, "XX"},
		{"a subdivision of another country is refused", Location{Country: "BR", Subdivision: "US-VA"}, "US-VA is not a subdivision of BR"},
		{"a withdrawn subdivision names its successor", Location{Country: "MX", Subdivision: "MX-DIF"}, "MX-CMX"},
		{"a city with a comma cannot be published in CSV", Location{Country: "US", City: "Washington, DC"}, "commas"},
		{"a city with surrounding spaces is refused", Location{Country: "US", City: " Boston"}, "spaces"},
		{"a city of invalid UTF-8 is refused", Location{Country: "US", City: "\xff"}, "UTF-8"},
		{"an overlong city is refused", Location{Country: "US", City: strings.Repeat("a", 200)}, "longer than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.loc.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate(%v) = %v, want valid", c.loc, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate(%v) = %v, want an error naming %q", c.loc, err, c.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	for _, c := range []struct {
		loc  Location
		want string
	}{
		{Location{Country: "US"}, "US"},
		{Location{Country: "US", Subdivision: "US-VA"}, "US/US-VA"},
		{Location{Country: "US", City: "Ashburn"}, "US//Ashburn"},
		{Location{Country: "US", Subdivision: "US-VA", City: "Ashburn"}, "US/US-VA/Ashburn"},
	} {
		if got := c.loc.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.loc, got, c.want)
		}
	}
	if !(Location{}).IsZero() || (Location{Country: "US"}).IsZero() {
		t.Errorf("IsZero is wrong")
	}
}
