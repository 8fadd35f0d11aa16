package geoblock

import "slices"

// Country groups the aliases in geoblock.countries expand to. A database
// gives a country per address; an EU territory with an ISO code of its own
// (Réunion is RE, not FR) would otherwise be served, although Union law, and
// so the GDPR, applies there as in the member state it belongs to.
var (
	// euMembers are the 27 member states of the European Union.
	euMembers = []string{
		"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
		"IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
	}
	// euTerritories are the parts of the Union's territory that have an
	// ISO 3166-1 code of their own:
	//   - the French outermost regions, where the Treaties apply in full
	//     (TFEU art. 349 and art. 355(1)): Guadeloupe GP, French Guiana GF,
	//     Martinique MQ, Réunion RE, Mayotte YT (since 2014) and
	//     Saint-Martin MF. (The other outermost regions, the Azores,
	//     Madeira and the Canary Islands, are coded PT and ES.)
	//   - Åland AX, part of Finland, where the Treaties apply with the
	//     derogations of Protocol No 2 to the 1994 Act of Accession (the
	//     Åland protocol, TFEU art. 355(4)); they concern taxes and land,
	//     not data protection.
	// Not included, because Union law does not apply there: the overseas
	// countries and territories of TFEU art. 355(2) and Annex II (Greenland
	// GL, New Caledonia NC, French Polynesia PF, Saint-Barthélemy BL since
	// 2012, Saint Pierre and Miquelon PM, Wallis and Futuna WF, the French
	// Southern Territories TF, Aruba AW, Curaçao CW, Sint Maarten SX, the
	// Caribbean Netherlands BQ) and the Faroe Islands FO (art. 355(5)(a)).
	// An operator whose legal advice differs lists codes explicitly.
	euTerritories = []string{"AX", "GF", "GP", "MQ", "RE", "YT", "MF"}
	// eeaExtra joins the EU in the European Economic Area. (Svalbard SJ is
	// outside the EEA Agreement, per Norway's declaration to it.)
	eeaExtra = []string{"IS", "LI", "NO"}
	// gdprExtra have data protection law equivalent to the GDPR that the
	// product treats the same way: the UK (UK GDPR and the Data Protection
	// Act 2018), Switzerland (the revised FADP of 2023), Gibraltar (the
	// Gibraltar GDPR and Data Protection Act 2004), the Crown Dependencies
	// Jersey (Data Protection (Jersey) Law 2018), Guernsey (Data Protection
	// (Bailiwick of Guernsey) Law 2017) and the Isle of Man (Data
	// Protection Act 2018 and its GDPR and LED Implementing Regulations).
	gdprExtra = []string{"GB", "CH", "GI", "JE", "GG", "IM"}
)

// aliasMembers returns the codes an alias stands for, or nil when name is not
// an alias. The slices returned are fresh copies.
func aliasMembers(name string) []string {
	switch name {
	case "EU":
		return slices.Concat(euMembers, euTerritories)
	case "EEA":
		return slices.Concat(euMembers, euTerritories, eeaExtra)
	case "GDPR":
		return slices.Concat(euMembers, euTerritories, eeaExtra, gdprExtra)
	}
	return nil
}

// commonMistakes maps codes people write for a country to its ISO code.
var commonMistakes = map[string]string{"UK": "GB", "EL": "GR"}
