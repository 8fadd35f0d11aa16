package kyc

import "testing"

func TestNameScore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, a, b string
		min, max   int
	}{
		{"same", "Ann Lee", "Ann Lee", 100, 100},
		{"case", "ANN LEE", "ann lee", 100, 100},
		{"order", "Lee Ann", "Ann Lee", 100, 100},
		{"accents", "José Álvarez", "Jose Alvarez", 100, 100},
		{"umlaut spelled out", "Jürgen Müller", "Juergen Mueller", 100, 100},
		{"eszett", "Groß", "Gross", 100, 100},
		{"nordic", "Søren Kierkegaard", "Soren Kierkegaard", 100, 100},
		{"polish l", "Łukasz Wałęsa", "Lukasz Walesa", 100, 100},
		{"cyrillic", "Дмитрий Иванов", "Dmitrij Ivanov", 80, 100},
		{"cyrillic family first", "Иванов Дмитрий", "Dmitriy Ivanov", 90, 100},
		{"greek", "Γιώργος Παπαδόπουλος", "Giorgos Papadopoulos", 90, 100},
		{"middle name missing", "Ann Mary Lee", "Ann Lee", 75, 85},
		{"typo", "Jonathan Smith", "Jonathon Smith", 85, 99},
		{"stranger", "Ann Lee", "Bob Brown", 0, 0},
		{"empty", "", "Ann Lee", 0, 0},
		{"punctuation", "O'Brien, Mary-Kate", "Mary Kate OBrien", 60, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := NameScore(tt.a, tt.b)
			if got < tt.min || got > tt.max {
				t.Errorf("NameScore(%q, %q) = %d, want %d..%d", tt.a, tt.b, got, tt.min, tt.max)
			}
			if back := NameScore(tt.b, tt.a); back != got {
				t.Errorf("NameScore(%q, %q) = %d, but %d the other way round", tt.b, tt.a, back, got)
			}
		})
	}
}

func TestEmailNameScore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, legal, email string
		min, max           int
	}{
		{"dotted", "Ann Lee", "ann.lee@example.com", 100, 100},
		{"reversed", "Ann Lee", "lee.ann@example.com", 100, 100},
		{"joined", "Ann Lee", "annlee@example.com", 100, 100},
		{"initial", "Ann Lee", "alee@example.com", 100, 100},
		{"digits", "Ann Lee", "ann_lee1987@example.com", 100, 100},
		{"accents", "José Núñez", "jose.nunez@example.com", 100, 100},
		{"cyrillic", "Иванов Дмитрий", "dmitriy.ivanov@example.com", 90, 100},
		{"unrelated", "Ann Lee", "shopper42@example.com", 0, 0},
		{"no at", "Ann Lee", "annlee", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := EmailNameScore(tt.legal, tt.email); got < tt.min || got > tt.max {
				t.Errorf("EmailNameScore(%q, %q) = %d, want %d..%d", tt.legal, tt.email, got, tt.min, tt.max)
			}
		})
	}
}
