package demo

import "github.com/cadastre-ipam/cadastre/location"

// cloudRegion is one of the 60 regions of the cloud-sized register: where
// it is, which registry serves its country, and how busy it is (weight, in
// shares of the assignments).
type cloudRegion struct {
	name   string
	loc    location.Location
	rir    string
	weight int
}

// cloudRegions are modelled on a large public cloud's regions in 2024:
// most weight in North America and Europe, a long tail elsewhere, and
// every one of the five registries' service areas present.
var cloudRegions = []cloudRegion{
	{"us-east", loc("US", "US-VA", "Boydton"), "arin", 12},
	{"us-east-2", loc("US", "US-VA", "Boydton"), "arin", 8},
	{"us-east-3", loc("US", "US-GA", "Atlanta"), "arin", 3},
	{"us-central", loc("US", "US-IA", "Des Moines"), "arin", 6},
	{"us-north-central", loc("US", "US-IL", "Chicago"), "arin", 3},
	{"us-south-central", loc("US", "US-TX", "San Antonio"), "arin", 5},
	{"us-west-central", loc("US", "US-WY", "Cheyenne"), "arin", 2},
	{"us-west", loc("US", "US-CA", "San Jose"), "arin", 4},
	{"us-west-2", loc("US", "US-WA", "Quincy"), "arin", 6},
	{"us-west-3", loc("US", "US-AZ", "Phoenix"), "arin", 3},
	{"us-gov-virginia", loc("US", "US-VA", "Ashburn"), "arin", 1},
	{"us-gov-texas", loc("US", "US-TX", "Dallas"), "arin", 1},
	{"canada-central", loc("CA", "CA-ON", "Toronto"), "arin", 3},
	{"canada-east", loc("CA", "CA-QC", "Quebec City"), "arin", 1},
	{"mexico-central", loc("MX", "MX-QUE", "Queretaro"), "lacnic", 1},
	{"brazil-south", loc("BR", "BR-SP", "Campinas"), "lacnic", 3},
	{"brazil-southeast", loc("BR", "BR-RJ", "Rio de Janeiro"), "lacnic", 1},
	{"chile-central", loc("CL", "CL-RM", "Santiago"), "lacnic", 1},
	{"europe-north", loc("IE", "IE-D", "Dublin"), "ripe", 8},
	{"europe-west", loc("NL", "NL-NH", "Amsterdam"), "ripe", 9},
	{"uk-south", loc("GB", "GB-LND", "London"), "ripe", 4},
	{"uk-west", loc("GB", "GB-CRF", "Cardiff"), "ripe", 1},
	{"france-central", loc("FR", "", "Paris"), "ripe", 3},
	{"france-south", loc("FR", "", "Marseille"), "ripe", 1},
	{"germany-west-central", loc("DE", "DE-HE", "Frankfurt"), "ripe", 4},
	{"germany-north", loc("DE", "DE-HH", "Hamburg"), "ripe", 1},
	{"switzerland-north", loc("CH", "CH-ZH", "Zurich"), "ripe", 2},
	{"switzerland-west", loc("CH", "CH-GE", "Geneva"), "ripe", 1},
	{"norway-east", loc("NO", "", "Oslo"), "ripe", 1},
	{"norway-west", loc("NO", "", "Stavanger"), "ripe", 1},
	{"sweden-central", loc("SE", "SE-X", "Gavle"), "ripe", 2},
	{"poland-central", loc("PL", "", "Warsaw"), "ripe", 1},
	{"italy-north", loc("IT", "", "Milan"), "ripe", 2},
	{"spain-central", loc("ES", "", "Madrid"), "ripe", 1},
	{"austria-east", loc("AT", "AT-9", "Vienna"), "ripe", 1},
	{"uae-north", loc("AE", "AE-DU", "Dubai"), "ripe", 1},
	{"uae-central", loc("AE", "AE-AZ", "Abu Dhabi"), "ripe", 1},
	{"qatar-central", loc("QA", "QA-DA", "Doha"), "ripe", 1},
	{"israel-central", loc("IL", "", "Tel Aviv"), "ripe", 1},
	{"south-africa-north", loc("ZA", "ZA-GP", "Johannesburg"), "afrinic", 2},
	{"south-africa-west", loc("ZA", "ZA-WC", "Cape Town"), "afrinic", 1},
	{"kenya-central", loc("KE", "", "Nairobi"), "afrinic", 1},
	{"nigeria-west", loc("NG", "NG-LA", "Lagos"), "afrinic", 1},
	{"egypt-north", loc("EG", "", "Cairo"), "afrinic", 1},
	{"asia-east", loc("HK", "", "Hong Kong"), "apnic", 3},
	{"asia-southeast", loc("SG", "", "Singapore"), "apnic", 5},
	{"japan-east", loc("JP", "JP-13", "Tokyo"), "apnic", 4},
	{"japan-west", loc("JP", "JP-27", "Osaka"), "apnic", 2},
	{"korea-central", loc("KR", "KR-11", "Seoul"), "apnic", 2},
	{"korea-south", loc("KR", "KR-26", "Busan"), "apnic", 1},
	{"india-central", loc("IN", "IN-MH", "Pune"), "apnic", 2},
	{"india-south", loc("IN", "IN-TN", "Chennai"), "apnic", 1},
	{"india-west", loc("IN", "IN-MH", "Mumbai"), "apnic", 1},
	{"australia-east", loc("AU", "AU-NSW", "Sydney"), "apnic", 3},
	{"australia-southeast", loc("AU", "AU-VIC", "Melbourne"), "apnic", 1},
	{"australia-central", loc("AU", "AU-ACT", "Canberra"), "apnic", 1},
	{"new-zealand-north", loc("NZ", "NZ-AUK", "Auckland"), "apnic", 1},
	{"indonesia-central", loc("ID", "ID-JK", "Jakarta"), "apnic", 1},
	{"malaysia-west", loc("MY", "MY-14", "Kuala Lumpur"), "apnic", 1},
	{"taiwan-north", loc("TW", "", "Taipei"), "apnic", 1},
}

func loc(country, subdivision, city string) location.Location {
	return location.Location{Country: country, Subdivision: subdivision, City: city}
}

// rirSpace is what the cloud-sized register takes from each registry: the
// /8s its IPv4 blocks are placed in (each registry's own, so geolocation
// databases see familiar registrations), its share of the blocks, and
// the IPv6 /24 its regions' /32s come from.
type rirSpace struct {
	name    string
	slash8s []byte
	share   int // percent of the blocks
	ipv6    string
}

var rirSpaces = []rirSpace{
	{"arin", []byte{13, 20, 23, 40, 52, 104, 137}, 45, "2603:1000::/24"},
	{"ripe", []byte{51, 94, 2, 5, 31, 46}, 25, "2a01:100::/24"},
	{"apnic", []byte{1, 14, 27, 42, 101, 103}, 18, "2404:f800::/24"},
	{"lacnic", []byte{177, 179, 181, 186, 191}, 8, "2804:1000::/24"},
	{"afrinic", []byte{41, 102, 105, 154, 197}, 4, "2c0f:f000::/24"},
}

// sellers are the counterparties of transferred blocks: holders that sold
// space on the transfer market.
var sellers = []string{"Nortel Networks", "Interop Show Network", "Eli Lilly", "Ford Motor Company", "Xerox", "Merck",
	"Halliburton", "Prudential", "MIT", "Amateur Radio Digital Communications", "Level 3", "Boeing"}
