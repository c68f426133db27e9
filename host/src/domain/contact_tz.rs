//! Which timezone a contact's quiet hours are read in (seed 003: "in the
//! contact's local timezone").
//!
//! In order of trust:
//! 1. the contact's own `timezone` field, when it names a valid IANA zone;
//! 2. a zone inferred from the phone number (this module's tables);
//! 3. the tenant's timezone.
//!
//! # The phone table and its limits
//!
//! - Countries with one timezone map straight to it (`SINGLE_ZONE`, the
//!   countries most campaigns reach; a country missing from it falls through
//!   to the tenant's zone rather than to a guess).
//! - US and Canada: by area code (`NANP_AREA_CODES`). An area code that
//!   straddles a zone line takes the zone of its largest city (850 Florida
//!   panhandle -> New York, 208 Idaho -> Denver). Unlisted US codes use
//!   America/Chicago, which is at most an hour off the east and two off the
//!   west coast; unlisted Canadian codes use America/Toronto.
//! - Australia: landlines by their area digit (2 NSW/ACT, 3 VIC/TAS, 7 QLD,
//!   8 SA/NT/WA, told apart by exchange: 86/89 Perth, 889 Darwin, else
//!   Adelaide). Mobiles (04) carry no geography: Sydney, the most populous.
//! - Brazil: by DDD area code for the states off Brasília time; else São Paulo.
//! - Mexico: by area code for Baja California, Sonora, Quintana Roo and the
//!   Pacific states; else Mexico City.
//! - Other multi-zone countries (RU, ID, KZ, CD, MN, CL, EC, ES, PT, NZ...) use
//!   a representative zone, that of the capital or most populous region.
//! - Numbers travel: a ported or roaming mobile keeps its home zone. That is
//!   why the contact's own field always wins.

use jiff::tz::TimeZone;

/// Where a contact's timezone came from, so the UI can say "inferred".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TzSource {
    Contact,
    Phone,
    Tenant,
}

#[derive(Clone, Debug)]
pub struct ContactTz {
    pub tz: TimeZone,
    pub source: TzSource,
}

/// The timezone to read a contact's local hours in.
pub fn contact_timezone(
    contact_tz: Option<&str>,
    phone_e164: Option<&str>,
    tenant_tz: &TimeZone,
) -> ContactTz {
    if let Some(tz) = contact_tz.and_then(|name| TimeZone::get(name.trim()).ok()) {
        return ContactTz {
            tz,
            source: TzSource::Contact,
        };
    }
    if let Some(tz) = phone_e164
        .and_then(zone_for_phone)
        .and_then(|name| TimeZone::get(name).ok())
    {
        return ContactTz {
            tz,
            source: TzSource::Phone,
        };
    }
    ContactTz {
        tz: tenant_tz.clone(),
        source: TzSource::Tenant,
    }
}

/// The IANA zone a phone number most likely lives in, if the tables know.
///
/// Read with `rlibphonenumber` (as `phone` validates): it runs once per
/// member at every claim, and the `phonenumber` crate's region lookup was
/// 1.7% of Herald's CPU on the dispatch benchmark.
pub fn zone_for_phone(e164: &str) -> Option<&'static str> {
    let number = rlibphonenumber::PhoneNumber::parse(e164, None).ok()?;
    let region = number.get_region_code()?.as_region_str();
    let national = number.get_national_significant_number();
    let prefix = |len: usize| national.get(..len)?.parse::<u16>().ok();
    match region.as_str() {
        "US" => Some(prefix(3).and_then(nanp_zone).unwrap_or("America/Chicago")),
        "CA" => Some(prefix(3).and_then(nanp_zone).unwrap_or("America/Toronto")),
        "AU" => Some(australia_zone(&national)),
        "BR" => Some(brazil_zone(prefix(2)?)),
        "MX" => Some(mexico_zone(prefix(3)?)),
        other => SINGLE_ZONE
            .iter()
            .find(|(country, _)| *country == other)
            .map(|(_, zone)| *zone),
    }
}

fn nanp_zone(area_code: u16) -> Option<&'static str> {
    NANP_AREA_CODES
        .iter()
        .find(|(_, codes)| codes.contains(&area_code))
        .map(|(zone, _)| *zone)
}

/// By the leading digits of the national number: the area digit, and for 08
/// the exchange digits that tell Perth and Darwin from Adelaide.
fn australia_zone(national: &str) -> &'static str {
    let starts = |p: &str| national.starts_with(p);
    if starts("3") {
        "Australia/Melbourne"
    } else if starts("7") {
        "Australia/Brisbane"
    } else if starts("86") || starts("89") {
        "Australia/Perth"
    } else if starts("889") {
        "Australia/Darwin"
    } else if starts("8") {
        "Australia/Adelaide"
    } else {
        "Australia/Sydney"
    }
}

fn brazil_zone(ddd: u16) -> &'static str {
    match ddd {
        65 | 66 => "America/Cuiaba",
        67 => "America/Campo_Grande",
        68 => "America/Rio_Branco",
        69 => "America/Porto_Velho",
        92 | 97 => "America/Manaus",
        95 => "America/Boa_Vista",
        _ => "America/Sao_Paulo",
    }
}

/// Mexican numbers are ten digits; three-digit area codes identify the
/// regions off central time (two-digit ones, 55/33/81, are all central).
fn mexico_zone(area: u16) -> &'static str {
    match area {
        646 | 653 | 658 | 661 | 664 | 665 | 686 => "America/Tijuana",
        622 | 631 | 637 | 641 | 642 | 643 | 644 | 645 | 647 | 662 => "America/Hermosillo",
        983 | 984 | 987 | 998 => "America/Cancun",
        612 | 613 | 615 | 624 | 667 | 668 | 669 | 672 | 673 | 687 | 694 | 696 | 697 | 698 => {
            "America/Mazatlan"
        }
        _ => "America/Mexico_City",
    }
}

/// US and Canadian area codes by zone. Codes not listed use the country
/// default (see the module docs).
const NANP_AREA_CODES: &[(&str, &[u16])] = &[
    ("Pacific/Honolulu", &[808]),
    ("America/Anchorage", &[907]),
    (
        "America/Los_Angeles",
        &[
            206, 209, 213, 253, 279, 310, 323, 341, 350, 360, 369, 408, 415, 424, 425, 442, 458,
            503, 509, 510, 530, 541, 559, 562, 564, 619, 626, 628, 650, 657, 661, 669, 702, 707,
            714, 725, 747, 760, 775, 805, 818, 820, 831, 840, 858, 909, 916, 925, 949, 951, 971,
        ],
    ),
    ("America/Phoenix", &[480, 520, 602, 623, 928]),
    (
        "America/Denver",
        &[
            208, 303, 307, 385, 406, 435, 505, 575, 719, 720, 801, 915, 970, 983, 986,
        ],
    ),
    (
        "America/Chicago",
        &[
            205, 210, 214, 217, 218, 219, 224, 225, 228, 251, 254, 256, 262, 270, 274, 281, 308,
            309, 312, 314, 316, 318, 319, 320, 325, 327, 331, 334, 337, 346, 361, 364, 402, 405,
            409, 414, 417, 430, 432, 447, 464, 469, 479, 501, 504, 507, 512, 515, 531, 534, 539,
            557, 563, 572, 573, 580, 601, 605, 608, 612, 615, 618, 620, 629, 630, 636, 641, 651,
            659, 660, 662, 682, 701, 708, 712, 713, 715, 726, 730, 731, 737, 763, 769, 773, 779,
            785, 806, 815, 816, 817, 830, 832, 847, 861, 870, 872, 901, 903, 913, 918, 920, 931,
            936, 938, 940, 945, 952, 956, 972, 975, 979, 985,
        ],
    ),
    (
        "America/New_York",
        &[
            201, 202, 203, 207, 212, 215, 216, 220, 223, 227, 229, 231, 234, 239, 240, 248, 252,
            260, 267, 269, 272, 276, 283, 301, 302, 304, 305, 313, 315, 317, 321, 324, 326, 329,
            330, 332, 336, 339, 347, 351, 352, 363, 380, 386, 401, 404, 407, 410, 412, 413, 419,
            423, 434, 436, 440, 443, 445, 448, 463, 470, 472, 475, 478, 484, 502, 508, 513, 516,
            517, 518, 540, 551, 561, 567, 570, 571, 574, 582, 585, 586, 603, 606, 607, 609, 610,
            614, 616, 617, 624, 631, 640, 645, 646, 656, 667, 678, 679, 680, 681, 686, 689, 703,
            704, 706, 716, 717, 718, 724, 727, 728, 732, 734, 740, 743, 754, 757, 762, 765, 770,
            771, 772, 774, 781, 786, 802, 803, 804, 810, 812, 813, 814, 826, 828, 835, 838, 839,
            843, 845, 848, 850, 854, 856, 857, 859, 860, 862, 863, 864, 865, 878, 904, 906, 908,
            910, 912, 914, 917, 919, 929, 930, 934, 937, 941, 943, 947, 948, 954, 959, 973, 978,
            980, 984, 989,
        ],
    ),
    ("America/Vancouver", &[236, 250, 257, 604, 672, 778]),
    ("America/Edmonton", &[368, 403, 587, 780, 825, 867]),
    ("America/Regina", &[306, 474, 639]),
    ("America/Winnipeg", &[204, 431, 584]),
    (
        "America/Toronto",
        &[
            226, 249, 263, 289, 343, 354, 365, 367, 382, 416, 418, 437, 438, 450, 468, 514, 519,
            548, 579, 581, 613, 647, 683, 705, 742, 753, 807, 819, 873, 905, 942,
        ],
    ),
    ("America/Halifax", &[428, 506, 782, 902]),
    ("America/St_Johns", &[709]),
];

/// Region (ISO 3166 alpha-2, as libphonenumber reports it) -> zone. Countries
/// with several zones are marked with the representative choice.
const SINGLE_ZONE: &[(&str, &str)] = &[
    // Europe
    ("AT", "Europe/Vienna"),
    ("BE", "Europe/Brussels"),
    ("BG", "Europe/Sofia"),
    ("CH", "Europe/Zurich"),
    ("CY", "Asia/Nicosia"),
    ("CZ", "Europe/Prague"),
    ("DE", "Europe/Berlin"),
    ("DK", "Europe/Copenhagen"),
    ("EE", "Europe/Tallinn"),
    ("ES", "Europe/Madrid"), // representative: the Canary Islands are an hour behind
    ("FI", "Europe/Helsinki"),
    ("FR", "Europe/Paris"),
    ("GB", "Europe/London"),
    ("GR", "Europe/Athens"),
    ("HR", "Europe/Zagreb"),
    ("HU", "Europe/Budapest"),
    ("IE", "Europe/Dublin"),
    ("IS", "Atlantic/Reykjavik"),
    ("IT", "Europe/Rome"),
    ("LT", "Europe/Vilnius"),
    ("LU", "Europe/Luxembourg"),
    ("LV", "Europe/Riga"),
    ("MT", "Europe/Malta"),
    ("NL", "Europe/Amsterdam"),
    ("NO", "Europe/Oslo"),
    ("PL", "Europe/Warsaw"),
    ("PT", "Europe/Lisbon"), // representative: the Azores are an hour behind
    ("RO", "Europe/Bucharest"),
    ("RS", "Europe/Belgrade"),
    ("RU", "Europe/Moscow"), // representative: eleven zones, most people on Moscow time
    ("SE", "Europe/Stockholm"),
    ("SI", "Europe/Ljubljana"),
    ("SK", "Europe/Bratislava"),
    ("TR", "Europe/Istanbul"),
    ("UA", "Europe/Kyiv"),
    // Middle East and Africa
    ("AE", "Asia/Dubai"),
    ("EG", "Africa/Cairo"),
    ("GH", "Africa/Accra"),
    ("IL", "Asia/Jerusalem"),
    ("KE", "Africa/Nairobi"),
    ("MA", "Africa/Casablanca"),
    ("NG", "Africa/Lagos"),
    ("QA", "Asia/Qatar"),
    ("SA", "Asia/Riyadh"),
    ("ZA", "Africa/Johannesburg"),
    ("CD", "Africa/Kinshasa"), // representative: the east is on Lubumbashi time
    // Asia and Oceania
    ("BD", "Asia/Dhaka"),
    ("CN", "Asia/Shanghai"),
    ("HK", "Asia/Hong_Kong"),
    ("ID", "Asia/Jakarta"), // representative: three zones
    ("IN", "Asia/Kolkata"),
    ("JP", "Asia/Tokyo"),
    ("KR", "Asia/Seoul"),
    ("KZ", "Asia/Almaty"), // representative
    ("LK", "Asia/Colombo"),
    ("MN", "Asia/Ulaanbaatar"), // representative
    ("MY", "Asia/Kuala_Lumpur"),
    ("NZ", "Pacific/Auckland"), // representative: the Chatham Islands differ
    ("PH", "Asia/Manila"),
    ("PK", "Asia/Karachi"),
    ("SG", "Asia/Singapore"),
    ("TH", "Asia/Bangkok"),
    ("TW", "Asia/Taipei"),
    ("VN", "Asia/Ho_Chi_Minh"),
    // The Americas besides US, CA, BR, MX
    ("AR", "America/Argentina/Buenos_Aires"),
    ("BO", "America/La_Paz"),
    ("BS", "America/Nassau"),
    ("CL", "America/Santiago"), // representative: Easter Island differs
    ("CO", "America/Bogota"),
    ("CR", "America/Costa_Rica"),
    ("DO", "America/Santo_Domingo"),
    ("EC", "America/Guayaquil"), // representative: Galápagos differs
    ("GT", "America/Guatemala"),
    ("JM", "America/Jamaica"),
    ("PA", "America/Panama"),
    ("PE", "America/Lima"),
    ("PR", "America/Puerto_Rico"),
    ("TT", "America/Port_of_Spain"),
    ("UY", "America/Montevideo"),
    ("VE", "America/Caracas"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn name(tz: &TimeZone) -> &str {
        tz.iana_name().unwrap_or("?")
    }

    #[test]
    fn every_zone_in_the_tables_exists() {
        let nanp = NANP_AREA_CODES.iter().map(|(z, _)| *z);
        let countries = SINGLE_ZONE.iter().map(|(_, z)| *z);
        let others = [
            "Australia/Melbourne",
            "Australia/Brisbane",
            "Australia/Adelaide",
            "Australia/Perth",
            "Australia/Darwin",
            "Australia/Sydney",
            "America/Cuiaba",
            "America/Campo_Grande",
            "America/Rio_Branco",
            "America/Porto_Velho",
            "America/Manaus",
            "America/Boa_Vista",
            "America/Sao_Paulo",
            "America/Tijuana",
            "America/Hermosillo",
            "America/Cancun",
            "America/Mazatlan",
            "America/Mexico_City",
        ];
        for zone in nanp.chain(countries).chain(others) {
            assert!(TimeZone::get(zone).is_ok(), "{zone}");
        }
    }

    #[test]
    fn no_area_code_is_in_two_zones() {
        let mut all: Vec<u16> = NANP_AREA_CODES
            .iter()
            .flat_map(|(_, c)| c.iter().copied())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn the_contacts_own_zone_wins() {
        let got = contact_timezone(Some("Asia/Tokyo"), Some("+14155550100"), &utc());
        assert_eq!(
            (name(&got.tz), got.source),
            ("Asia/Tokyo", TzSource::Contact)
        );
    }

    #[test]
    fn an_invalid_contact_zone_falls_back_to_the_phone() {
        for bad in ["Mars/Olympus", "", "PST8PDT-ish"] {
            let got = contact_timezone(Some(bad), Some("+14155550100"), &utc());
            assert_eq!(
                (name(&got.tz), got.source),
                ("America/Los_Angeles", TzSource::Phone),
                "{bad}"
            );
        }
    }

    #[test]
    fn neither_gives_the_tenants_zone() {
        let tenant = TimeZone::get("Europe/Paris").unwrap();
        let got = contact_timezone(None, None, &tenant);
        assert_eq!(
            (name(&got.tz), got.source),
            ("Europe/Paris", TzSource::Tenant)
        );
        // A valid number from a country the table does not know.
        let got = contact_timezone(None, Some("+9779841234567"), &tenant);
        assert_eq!(got.source, TzSource::Tenant);
        let got = contact_timezone(None, Some("not a number"), &tenant);
        assert_eq!(got.source, TzSource::Tenant);
    }

    fn assert_zones(cases: &[(&str, &str)]) {
        for (number, zone) in cases {
            assert_eq!(zone_for_phone(number), Some(*zone), "{number}");
        }
    }

    #[test]
    fn north_american_area_codes() {
        assert_zones(&[
            ("+14155550100", "America/Los_Angeles"),
            ("+12125550100", "America/New_York"),
            ("+13125550100", "America/Chicago"),
            ("+13035550100", "America/Denver"),
            ("+16025550100", "America/Phoenix"),
            ("+18085550100", "Pacific/Honolulu"),
            ("+19075550100", "America/Anchorage"),
            ("+16045550100", "America/Vancouver"),
            ("+14165550100", "America/Toronto"),
            ("+17095550100", "America/St_Johns"),
            ("+17875550100", "America/Puerto_Rico"),
        ]);
    }

    #[test]
    fn single_zone_countries() {
        assert_zones(&[
            ("+4930901820", "Europe/Berlin"),
            ("+442071838750", "Europe/London"),
            ("+33142685300", "Europe/Paris"),
            ("+81312345678", "Asia/Tokyo"),
            ("+919876543210", "Asia/Kolkata"),
        ]);
    }

    #[test]
    fn multi_zone_countries_by_region() {
        assert_zones(&[
            ("+61412345678", "Australia/Sydney"), // mobile
            ("+61892345678", "Australia/Perth"),
            ("+61882345678", "Australia/Adelaide"),
            ("+61312345678", "Australia/Melbourne"),
            ("+61732345678", "Australia/Brisbane"),
            ("+5511987654321", "America/Sao_Paulo"),
            ("+5592987654321", "America/Manaus"),
            ("+526641234567", "America/Tijuana"),
            ("+529981234567", "America/Cancun"),
            ("+525512345678", "America/Mexico_City"),
            ("+79161234567", "Europe/Moscow"),
        ]);
    }
}
