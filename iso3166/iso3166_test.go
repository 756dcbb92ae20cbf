package iso3166

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name        string
		country     string
		subdivision string
		want        error  // nil, or the Err value errors.Is must match
		msg         string // substring the message must contain
	}{
		{"assigned country alone is valid", "US", "", nil, ""},
		{"US state is valid", "US", "US-VA", nil, ""},
		{"Brazilian state is valid", "BR", "BR-SP", nil, ""},
		{"Irish county Dublin is valid", "IE", "IE-D", nil, ""},
		{"Paris is a collectivity FR-75C since 2019", "FR", "FR-75C", nil, ""},
		{"Telangana is IN-TS", "IN", "IN-TS", nil, ""},
		{"European collectivity of Alsace is valid", "FR", "FR-6AE", nil, ""},
		{"Bas-Rhin stays a current department under Alsace", "FR", "FR-67", nil, ""},
		{"England is a GB nation", "GB", "GB-ENG", nil, ""},
		{"Scotland is a GB nation", "GB", "GB-SCT", nil, ""},
		{"North Northamptonshire is a unitary authority", "GB", "GB-NNH", nil, ""},
		{"Mexico City is MX-CMX", "MX", "MX-CMX", nil, ""},
		{"Prague is CZ-10", "CZ", "CZ-10", nil, ""},
		{"Astana is KZ-71", "KZ", "KZ-71", nil, ""},
		{"Abay region created 2022 is KZ-10", "KZ", "KZ-10", nil, ""},
		{"Guadeloupe is a country of its own", "GP", "", nil, ""},

		{"lower-case country is reported as such", "us", "", ErrLowerCase, "country code must be upper case: US"},
		{"mixed-case country is reported as lower case", "Us", "", ErrLowerCase, "must be upper case: US"},
		{"alpha-3 country is malformed with a hint", "USA", "", ErrMalformedCountry, `did you mean US?`},
		{"empty country is malformed", "", "", ErrMalformedCountry, `country code ""`},
		{"digit in country is malformed", "U1", "", ErrMalformedCountry, "two ASCII upper-case letters"},
		{"non-ASCII country is malformed", "ÜS", "", ErrMalformedCountry, "malformed"},
		{"UK is exceptionally reserved, not assigned", "UK", "", ErrUnknownCountry, "use GB"},
		{"EU is exceptionally reserved, not a country", "EU", "", ErrUnknownCountry, "European Union"},
		{"XK is user-assigned, not assigned", "XK", "", ErrUnknownCountry, "user-assigned"},
		{"ZZ is user-assigned", "ZZ", "", ErrUnknownCountry, "user-assigned"},
		{"QM is user-assigned", "QM", "", ErrUnknownCountry, "user-assigned"},
		{"AN was withdrawn from ISO 3166-1", "AN", "", ErrUnknownCountry, "Netherlands Antilles"},
		{"YU was withdrawn from ISO 3166-1", "YU", "", ErrUnknownCountry, "withdrawn"},
		{"unassigned country is unknown", "OO", "", ErrUnknownCountry, "OO"},
		{"country error wins over subdivision", "us", "US-VA", ErrLowerCase, "US"},

		{"MX-DIF is withdrawn and names MX-CMX", "MX", "MX-DIF", ErrWithdrawnSubdivision, "use MX-CMX"},
		{"Paris department FR-75 is withdrawn for FR-75C", "FR", "FR-75", ErrWithdrawnSubdivision, "FR-75C"},
		{"lettered French region is withdrawn", "FR", "FR-J", ErrWithdrawnSubdivision, "FR-IDF"},
		{"IN-TG is withdrawn for IN-TS", "IN", "IN-TG", ErrWithdrawnSubdivision, "IN-TS"},
		{"Northamptonshire split names both successors", "GB", "GB-NTH", ErrWithdrawnSubdivision, "GB-NNH and GB-WNH"},
		{"Nepalese zone has no single successor", "NP", "NP-BA", ErrWithdrawnSubdivision, "current NP code"},
		{"Latvian municipality merged in 2021 names its new municipality", "LV", "LV-001", ErrWithdrawnSubdivision, "LV-073"},
		{"Czech letter region code names its numeric code", "CZ", "CZ-JM", ErrWithdrawnSubdivision, "CZ-64"},
		{"Kazakh region split in 2022 names both successors", "KZ", "KZ-VOS", ErrWithdrawnSubdivision, "KZ-63 and KZ-10"},
		{"withdrawn code of another country is a country mismatch", "US", "MX-DIF", ErrWrongCountry, "MX-DIF is not a subdivision of US"},

		{"US-VA is not a subdivision of BR", "BR", "US-VA", ErrWrongCountry, "US-VA is not a subdivision of BR"},
		{"unknown code of another assigned country is a mismatch", "BR", "US-ZZ", ErrWrongCountry, "not a subdivision of BR"},
		{"invented Singapore code SG-SIN is unknown", "SG", "SG-SIN", ErrUnknownSubdivision, "SG-SIN"},
		{"doubled prefix US-US-MO is unknown", "US", "US-US-MO", ErrUnknownSubdivision, "US-US-MO"},
		{"city name in the region field is unknown", "FR", "Paris", ErrUnknownSubdivision, "did you mean FR-75C"},
		{"state name in the region field is unknown", "US", "Virginia", ErrUnknownSubdivision, "did you mean US-VA"},
		{"bare suffix is unknown", "US", "VA", ErrUnknownSubdivision, `"VA"`},
		{"unknown prefix XX is unknown, not a mismatch", "BR", "XX-YY", ErrUnknownSubdivision, "XX-YY"},
		{"lower-case subdivision is reported as such", "US", "us-va", ErrLowerCase, "subdivision code must be upper case: US-VA"},
		{"lower-case withdrawn code is reported as lower case first", "MX", "mx-dif", ErrLowerCase, "MX-DIF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.country, tt.subdivision)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate(%q, %q) = %v, want nil", tt.country, tt.subdivision, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate(%q, %q) = %v, want errors.Is %v", tt.country, tt.subdivision, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Validate(%q, %q) = %q, want it to contain %q", tt.country, tt.subdivision, err, tt.msg)
			}
		})
	}
}

func TestLookupCountry(t *testing.T) {
	tests := []struct {
		name string
		code string
		want Country
		ok   bool
	}{
		{"US is the United States", "US", Country{"US", "USA", "840", "United States"}, true},
		{"GB is the United Kingdom", "GB", Country{"GB", "GBR", "826", "United Kingdom"}, true},
		{"lower case is not found", "us", Country{}, false},
		{"alpha-3 is not found", "USA", Country{}, false},
		{"UK is reserved, not found", "UK", Country{}, false},
		{"EU is reserved, not found", "EU", Country{}, false},
		{"XK is user-assigned, not found", "XK", Country{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LookupCountry(tt.code)
			if got != tt.want || ok != tt.ok {
				t.Errorf("LookupCountry(%q) = %+v, %v; want %+v, %v", tt.code, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestLookupSubdivision(t *testing.T) {
	tests := []struct {
		name string
		code string
		want Subdivision
		ok   bool
	}{
		{"Virginia is a US state", "US-VA", Subdivision{Code: "US-VA", Name: "Virginia", Type: "State", Country: "US"}, true},
		{"Bas-Rhin belongs to the European collectivity of Alsace", "FR-67",
			Subdivision{Code: "FR-67", Name: "Bas-Rhin", Type: "Metropolitan department", Country: "FR", Parent: "FR-6AE"}, true},
		{"Paris is in Île-de-France", "FR-75C",
			Subdivision{Code: "FR-75C", Name: "Paris", Type: "Metropolitan collectivity with special status", Country: "FR", Parent: "FR-IDF"}, true},
		{"withdrawn MX-DIF is not current", "MX-DIF", Subdivision{}, false},
		{"lower case is not found", "us-va", Subdivision{}, false},
		{"invented SG-SIN is not found", "SG-SIN", Subdivision{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LookupSubdivision(tt.code)
			if got != tt.want || ok != tt.ok {
				t.Errorf("LookupSubdivision(%q) = %+v, %v; want %+v, %v", tt.code, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSuccessor(t *testing.T) {
	tests := []struct {
		name string
		code string
		want []string
		ok   bool
	}{
		{"MX-DIF became MX-CMX", "MX-DIF", []string{"MX-CMX"}, true},
		{"FR-75 became FR-75C", "FR-75", []string{"FR-75C"}, true},
		{"IN-TG became IN-TS", "IN-TG", []string{"IN-TS"}, true},
		{"Northamptonshire split in two", "GB-NTH", []string{"GB-NNH", "GB-WNH"}, true},
		{"Almaty city KZ-ALA became KZ-75", "KZ-ALA", []string{"KZ-75"}, true},
		{"Nepalese zone is withdrawn without successor", "NP-BA", nil, true},
		{"current code has no successor", "MX-CMX", nil, false},
		{"unknown code has no successor", "SG-SIN", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Successor(tt.code)
			if !slices.Equal(got, tt.want) || ok != tt.ok {
				t.Errorf("Successor(%q) = %q, %v; want %q, %v", tt.code, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSuccessorResultIsTheCallersToKeep(t *testing.T) {
	got, _ := Successor("MX-DIF")
	got[0] = "XX-XX"
	if again, _ := Successor("MX-DIF"); again[0] != "MX-CMX" {
		t.Fatalf("Successor shares its slice with the table: got %q after caller changed it", again)
	}
}

func TestDataSanity(t *testing.T) {
	countries := Countries()
	// ISO 3166-1 has had 249 assigned alpha-2 codes since SS (South Sudan) in 2011.
	if len(countries) != 249 {
		t.Errorf("Countries() has %d entries, want 249", len(countries))
	}
	if !slices.IsSortedFunc(countries, func(a, b Country) int { return strings.Compare(a.Alpha2, b.Alpha2) }) {
		t.Error("Countries() is not sorted by code")
	}
	for code := range reserved {
		if _, ok := LookupCountry(code); ok {
			t.Errorf("reserved code %s is listed as assigned", code)
		}
	}

	total := 0
	for _, c := range countries {
		if !isAlpha2(c.Alpha2) || len(c.Alpha3) != 3 || c.Name == "" {
			t.Errorf("malformed country %+v", c)
		}
		if got, ok := LookupCountry(c.Alpha2); !ok || got != c {
			t.Errorf("LookupCountry(%s) = %+v, %v; want %+v", c.Alpha2, got, ok, c)
		}
		subs := Subdivisions(c.Alpha2)
		total += len(subs)
		if !slices.IsSortedFunc(subs, func(a, b Subdivision) int { return strings.Compare(a.Code, b.Code) }) {
			t.Errorf("Subdivisions(%s) is not sorted by code", c.Alpha2)
		}
		for _, s := range subs {
			if s.Country != c.Alpha2 || !strings.HasPrefix(s.Code, c.Alpha2+"-") || s.Name == "" || s.Type == "" {
				t.Errorf("malformed subdivision %+v", s)
			}
			if err := Validate(c.Alpha2, s.Code); err != nil {
				t.Errorf("current subdivision %s fails Validate: %v", s.Code, err)
			}
			if s.Parent != "" {
				if p, ok := LookupSubdivision(s.Parent); !ok || p.Country != s.Country {
					t.Errorf("subdivision %s: parent %s is not a current code of %s", s.Code, s.Parent, s.Country)
				}
			}
		}
	}
	// iso-codes 4.20.1 lists 5046; a data update that loses or gains many
	// codes at once deserves a look.
	if total < 4900 || total > 5300 {
		t.Errorf("%d subdivisions in all, want about 5000", total)
	}
	if got := Subdivisions("US"); len(got) != 57 {
		t.Errorf("Subdivisions(US) has %d entries, want 57 (50 states, DC, 6 outlying areas)", len(got))
	}
	if got := Subdivisions("us"); got != nil {
		t.Errorf("Subdivisions(us) = %d entries, want none", len(got))
	}

	for code, succ := range data().withdrawn {
		if _, ok := LookupSubdivision(code); ok {
			t.Errorf("withdrawn %s is also current", code)
		}
		for _, s := range succ {
			if _, ok := LookupSubdivision(s); !ok || s[:2] != code[:2] {
				t.Errorf("withdrawn %s: successor %s is not a current code of the same country", code, s)
			}
		}
	}
}

func TestVersionNamesSourceAndPatchDate(t *testing.T) {
	v := Version()
	if !strings.HasPrefix(v, "Debian iso-codes ") || !strings.Contains(v, "patches 20") {
		t.Errorf("Version() = %q, want source, version and patch date", v)
	}
}

func TestParseRejectsMalformedData(t *testing.T) {
	for _, raw := range []string{
		"",
		"V\tx\n",
		"V\tx\nC\tUS\tUSA\n",
		"V\tx\nC\tUS\tUSA\tUnited States\nS\tUSVA\tState\t\tVirginia\n",
		"V\tx\nC\tUS\tUSA\tUnited States\nQ\tjunk\n",
	} {
		if _, err := parse(raw); err == nil {
			t.Errorf("parse(%q) succeeded, want an error", raw)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	for b.Loop() {
		_ = Validate("US", "US-VA")
	}
}

// Every withdrawn subdivision code is treated alike: ErrWithdrawnSubdivision
// naming its successor(s) and the change that withdrew it. CN-11, ZA-GT,
// ZA-NL and IN-DD were unknown codes (hard errors in a geofeed) while FR-J
// and IN-OR named their successor; Norway's 2024 counties were unknown
// while the withdrawn Viken (NO-30) passed.
func TestWithdrawnCodesAreTreatedAlike(t *testing.T) {
	tests := []struct {
		name, country, code string
		successors          []string
		source              string // part of the cited change
	}{
		{"Beijing's numeric code names its letter code", "CN", "CN-11", []string{"CN-BJ"}, "2017-11-23"},
		{"Hong Kong's numeric code names its letter code", "CN", "CN-91", []string{"CN-HK"}, "2017-11-23"},
		{"Gauteng's old code names GP", "ZA", "ZA-GT", []string{"ZA-GP"}, "2007-11-28"},
		{"KwaZulu-Natal's old code names KZN", "ZA", "ZA-NL", []string{"ZA-KZN"}, "2007-11-28"},
		{"Daman and Diu names the merged territory", "IN", "IN-DD", []string{"IN-DH"}, "2020-01-26"},
		{"Dadra and Nagar Haveli names the merged territory", "IN", "IN-DN", []string{"IN-DH"}, "2020-01-26"},
		{"Île-de-France's letter code names IDF", "FR", "FR-J", []string{"FR-IDF"}, "2016-11-15"},
		{"Orissa names Odisha", "IN", "IN-OR", []string{"IN-OD"}, "ISO 3166-2:IN"},
		{"Viken is withdrawn, split in three", "NO", "NO-30", []string{"NO-31", "NO-32", "NO-33"}, "2024-01-01"},
		{"Vestfold og Telemark is withdrawn, split in two", "NO", "NO-38", []string{"NO-39", "NO-40"}, "2024-01-01"},
		{"Troms og Finnmark is withdrawn, split in two", "NO", "NO-54", []string{"NO-55", "NO-56"}, "2024-01-01"},
		{"a pre-2020 county names its current successor", "NO", "NO-01", []string{"NO-31"}, "2020-11-24"},
		{"Trøndelag's first code names NO-50", "NO", "NO-23", []string{"NO-50"}, "2019-04-09"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.country, tc.code)
			if !errors.Is(err, ErrWithdrawnSubdivision) {
				t.Fatalf("Validate(%s, %s) = %v, want ErrWithdrawnSubdivision", tc.country, tc.code, err)
			}
			for _, s := range tc.successors {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%v does not name the successor %s", err, s)
				}
				if _, ok := LookupSubdivision(s); !ok {
					t.Errorf("successor %s is not current", s)
				}
			}
			if succ, _ := Successor(tc.code); !slices.Equal(succ, tc.successors) {
				t.Errorf("Successor(%s) = %v, want %v", tc.code, succ, tc.successors)
			}
			if src, ok := WithdrawalSource(tc.code); !ok || !strings.Contains(src, tc.source) || !strings.Contains(err.Error(), src) {
				t.Errorf("WithdrawalSource(%s) = %q, %v; want it citing %q, and in %v", tc.code, src, ok, tc.source, err)
			}
		})
	}
}

// Norway's counties since the 2024 reform are current codes.
func TestNorwayCountiesOf2024AreCurrent(t *testing.T) {
	want := []string{"NO-03", "NO-11", "NO-15", "NO-18", "NO-21", "NO-22", "NO-31", "NO-32", "NO-33", "NO-34", "NO-39", "NO-40", "NO-42", "NO-46", "NO-50", "NO-55", "NO-56"}
	var got []string
	for _, s := range Subdivisions("NO") {
		got = append(got, s.Code)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Norway's subdivisions %v, want %v", got, want)
	}
	for _, c := range want {
		if err := Validate("NO", c); err != nil {
			t.Errorf("Validate(NO, %s) = %v", c, err)
		}
	}
}

// The embedded data names where it comes from and when it was reviewed,
// and every withdrawn code the change that withdrew it.
func TestDataNamesItsSources(t *testing.T) {
	if v := Version(); !strings.Contains(v, "iso-codes") || !regexp.MustCompile(`patches \d{4}-\d{2}-\d{2}$`).MatchString(v) {
		t.Errorf("Version() = %q: want the upstream release and the patch review date", v)
	}
	for code := range data().withdrawn {
		if src, ok := WithdrawalSource(code); !ok || src == "" {
			t.Errorf("withdrawn %s cites no source", code)
		}
	}
}

func TestLookupNumericFindsTheCountryOfAThreeDigitCode(t *testing.T) {
	for code, want := range map[string]string{"076": "BR", "840": "US", "020": "AD", "826": "GB", "732": "EH"} {
		c, ok := LookupNumeric(code)
		if !ok || c.Alpha2 != want {
			t.Errorf("LookupNumeric(%q) = %+v, %v; want %s", code, c, ok, want)
		}
	}
	for _, code := range []string{"", "76", "999", "abc", "0760"} {
		if c, ok := LookupNumeric(code); ok {
			t.Errorf("LookupNumeric(%q) = %+v, want none", code, c)
		}
	}
}
