package registry

import (
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in hundredths of a currency unit, exact, so that the
// price of a transfer (Microsoft paid Nortel $7,500,000.00 for 666,624
// addresses) and its price per address never suffer float rounding.
type Money struct {
	Cents    int64  `json:"cents"`
	Currency string `json:"currency"`
}

// ParseMoney reads an amount such as "7500000" or "7500000.50" in currency,
// an ISO 4217 code of three upper-case letters.
func ParseMoney(amount, currency string) (Money, error) {
	if err := checkCurrency(currency); err != nil {
		return Money{}, err
	}
	whole, frac, hasFrac := strings.Cut(amount, ".")
	if whole == "" || (hasFrac && (len(frac) == 0 || len(frac) > 2)) {
		return Money{}, fmt.Errorf("price %q: must be a non-negative amount with at most two decimals, such as 7500000.00", amount)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	if strings.ContainsFunc(whole+frac, func(r rune) bool { return r < '0' || r > '9' }) {
		return Money{}, fmt.Errorf("price %q: must be a non-negative amount with at most two decimals, such as 7500000.00", amount)
	}
	cents, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return Money{}, fmt.Errorf("price %q: too large", amount)
	}
	return Money{Cents: cents, Currency: currency}, nil
}

// checkCurrency refuses a currency that is not an active ISO 4217 code of
// three upper-case letters.
func checkCurrency(currency string) error {
	if len(currency) != 3 || strings.ToUpper(currency) != currency || strings.ContainsFunc(currency, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return fmt.Errorf("currency %q: must be an ISO 4217 code of three upper-case letters, such as USD", currency)
	}
	if !currencies[currency] {
		return fmt.Errorf("currency %q: not an active ISO 4217 currency code", currency)
	}
	return nil
}

// Validate applies ParseMoney's rules to a Money made elsewhere (a file
// loaded by import): an active ISO 4217 currency, a non-negative amount.
func (m Money) Validate() error {
	if err := checkCurrency(m.Currency); err != nil {
		return err
	}
	if m.Cents < 0 {
		return fmt.Errorf("price of %d hundredths: must not be negative", m.Cents)
	}
	return nil
}

// String prints "7500000.00 USD".
func (m Money) String() string {
	return fmt.Sprintf("%d.%02d %s", m.Cents/100, m.Cents%100, m.Currency)
}
