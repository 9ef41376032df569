package gen

// ValidUSCC reports whether s carries the right GB 32100 check character.
func ValidUSCC(s string) bool { return len(s) == 18 && usccCheck([]byte(s[:17])) == s[17] }
