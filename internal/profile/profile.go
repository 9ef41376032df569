// Package profile holds the resident and enterprise profile types of
// shared/CONTRACTS.md §2, the event envelope of §1, and their decoding and
// schema validation. It does no I/O.
//
// Every optional field is a pointer or a slice, so that an absent or null
// field (unknown) stays distinguishable from zero, false or empty.
package profile

// Kind names the two kinds of subject a profile describes.
type Kind string

// The subject kinds of CONTRACTS.md §1.
const (
	KindResident   Kind = "resident"
	KindEnterprise Kind = "enterprise"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool { return k == KindResident || k == KindEnterprise }

// Resident is a resident's profile. PersonID is the only required field.
type Resident struct {
	PersonID            string             `json:"person_id"`
	Gender              *string            `json:"gender,omitempty"`
	BirthDate           *string            `json:"birth_date,omitempty"`
	Hukou               *Hukou             `json:"hukou,omitempty"`
	ResidenceRegionCode *string            `json:"residence_region_code,omitempty"`
	Education           *Education         `json:"education,omitempty"`
	Employment          *Employment        `json:"employment,omitempty"`
	Hardship            *Hardship          `json:"hardship,omitempty"`
	Veteran             *Veteran           `json:"veteran,omitempty"`
	Disability          *Disability        `json:"disability,omitempty"`
	Insurance           *Insurance         `json:"insurance,omitempty"`
	PensionReceiving    *PensionReceiving  `json:"pension_receiving,omitempty"`
	SkillCertificates   []SkillCertificate `json:"skill_certificates,omitempty"`
	Entrepreneur        *Entrepreneur      `json:"entrepreneur,omitempty"`
	BenefitsReceived    []ResidentBenefit  `json:"benefits_received,omitempty"`
	Contact             *Contact           `json:"contact,omitempty"`
	Channels            *ResidentChannels  `json:"channels,omitempty"`
	Consent             *ResidentConsent   `json:"consent,omitempty"`
}

// Hukou is the household registration.
type Hukou struct {
	Type       *string `json:"type,omitempty"`
	RegionCode *string `json:"region_code,omitempty"`
	IsLocal    *bool   `json:"is_local,omitempty"`
}

// Education is the highest education.
type Education struct {
	Level            *string `json:"level,omitempty"`
	IsFullTime       *bool   `json:"is_full_time,omitempty"`
	IsRegularCollege *bool   `json:"is_regular_college,omitempty"`
	GraduationDate   *string `json:"graduation_date,omitempty"`
}

// Employment is the employment situation.
type Employment struct {
	Status                   *string                   `json:"status,omitempty"`
	EmployerUSCC             *string                   `json:"employer_uscc,omitempty"`
	LastSeparation           *Separation               `json:"last_separation,omitempty"`
	UnemploymentRegistration *UnemploymentRegistration `json:"unemployment_registration,omitempty"`
}

// Separation is the end of the last employment.
type Separation struct {
	Date   *string `json:"date,omitempty"`
	Reason *string `json:"reason,omitempty"`
}

// UnemploymentRegistration is the 失业登记.
type UnemploymentRegistration struct {
	Registered *bool   `json:"registered,omitempty"`
	Date       *string `json:"date,omitempty"`
}

// Hardship is the 就业困难人员 certification.
type Hardship struct {
	Certified     *bool    `json:"certified,omitempty"`
	Categories    []string `json:"categories,omitempty"`
	CertifiedDate *string  `json:"certified_date,omitempty"`
}

// Veteran is the veteran status.
type Veteran struct {
	IsVeteran     *bool   `json:"is_veteran,omitempty"`
	DischargeDate *string `json:"discharge_date,omitempty"`
}

// Disability is sensitive: it never appears in a message.
type Disability struct {
	HasCertificate *bool `json:"has_certificate,omitempty"`
	Level          *int  `json:"level,omitempty"`
}

// Insurance holds the social-insurance records.
type Insurance struct {
	Pension      *Pension         `json:"pension,omitempty"`
	Unemployment *UnemploymentIns `json:"unemployment,omitempty"`
	WorkInjury   *InsuranceStatus `json:"work_injury,omitempty"`
	Medical      *InsuranceStatus `json:"medical,omitempty"`
}

// Pension is the pension-insurance record.
type Pension struct {
	Scheme           *string `json:"scheme,omitempty"`
	Status           *string `json:"status,omitempty"`
	CumulativeMonths *int    `json:"cumulative_months,omitempty"`
	LastPaidMonth    *string `json:"last_paid_month,omitempty"`
}

// UnemploymentIns is the unemployment-insurance record.
type UnemploymentIns struct {
	Status           *string `json:"status,omitempty"`
	CumulativeMonths *int    `json:"cumulative_months,omitempty"`
	LastPaidMonth    *string `json:"last_paid_month,omitempty"`
}

// InsuranceStatus is a record that only has a status.
type InsuranceStatus struct {
	Status *string `json:"status,omitempty"`
}

// PensionReceiving is the pension being drawn.
type PensionReceiving struct {
	Receiving    *bool   `json:"receiving,omitempty"`
	StartDate    *string `json:"start_date,omitempty"`
	LastAuthDate *string `json:"last_auth_date,omitempty"`
}

// SkillCertificate is one vocational skill certificate.
type SkillCertificate struct {
	OccupationCode *string `json:"occupation_code,omitempty"`
	OccupationName *string `json:"occupation_name,omitempty"`
	Level          *string `json:"level,omitempty"`
	IssueDate      *string `json:"issue_date,omitempty"`
}

// Entrepreneur describes a business the resident founded.
type Entrepreneur struct {
	IsFounder      *bool   `json:"is_founder,omitempty"`
	BusinessUSCC   *string `json:"business_uscc,omitempty"`
	RegisteredDate *string `json:"registered_date,omitempty"`
}

// ResidentBenefit is a benefit already granted to a resident.
type ResidentBenefit struct {
	PolicyID  *string  `json:"policy_id,omitempty"`
	GrantedOn *string  `json:"granted_on,omitempty"`
	Amount    *float64 `json:"amount,omitempty"`
}

// Contact holds a resident's contact data; the mobile is personal information.
type Contact struct {
	Mobile *string `json:"mobile,omitempty"`
}

// ResidentChannels are the channels a resident can be reached on.
type ResidentChannels struct {
	WeChat *WeChatChannel `json:"wechat,omitempty"`
	SMS    *SMSChannel    `json:"sms,omitempty"`
}

// WeChatChannel is the official-account binding.
type WeChatChannel struct {
	OpenID   *string `json:"openid,omitempty"`
	Followed *bool   `json:"followed,omitempty"`
}

// SMSChannel says whether SMS may be used.
type SMSChannel struct {
	Enabled *bool `json:"enabled,omitempty"`
}

// ResidentConsent is the resident's push consent (PIPL art. 24).
type ResidentConsent struct {
	PersonalizedPush *bool    `json:"personalized_push,omitempty"`
	OptOutChannels   []string `json:"opt_out_channels,omitempty"`
	OptOutAt         *string  `json:"opt_out_at,omitempty"`
}

// Enterprise is an enterprise's profile. USCC is the only required field.
type Enterprise struct {
	USCC               string              `json:"uscc"`
	Name               *string             `json:"name,omitempty"`
	RegionCode         *string             `json:"region_code,omitempty"`
	IndustryCode       *string             `json:"industry_code,omitempty"`
	SizeClass          *string             `json:"size_class,omitempty"`
	RegisteredDate     *string             `json:"registered_date,omitempty"`
	RegistrationStatus *string             `json:"registration_status,omitempty"`
	UI                 *EnterpriseUI       `json:"ui,omitempty"`
	InsuredCountNow    *int                `json:"insured_count_now,omitempty"`
	Arrears            *Arrears            `json:"arrears,omitempty"`
	Credit             *Credit             `json:"credit,omitempty"`
	NewHires           []NewHire           `json:"new_hires,omitempty"`
	InternshipBase     *InternshipBase     `json:"internship_base,omitempty"`
	BenefitsReceived   []EnterpriseBenefit `json:"benefits_received,omitempty"`
	Contacts           *EnterpriseContacts `json:"contacts,omitempty"`
	Channels           *EnterpriseChannels `json:"channels,omitempty"`
	Consent            *EnterpriseConsent  `json:"consent,omitempty"`
}

// EnterpriseUI is the unemployment-insurance record of an employer.
type EnterpriseUI struct {
	PaidFullMonths        *int     `json:"paid_full_months,omitempty"`
	PremiumPaidLastYear   *float64 `json:"premium_paid_last_year,omitempty"`
	AvgInsuredLastYear    *float64 `json:"avg_insured_last_year,omitempty"`
	NewClaimantsLastYear  *int     `json:"new_claimants_last_year,omitempty"`
	InsuredCountYearStart *int     `json:"insured_count_year_start,omitempty"`
	InsuredCountYearEnd   *int     `json:"insured_count_year_end,omitempty"`
}

// Arrears are unpaid social-insurance contributions.
type Arrears struct {
	HasArrears *bool    `json:"has_arrears,omitempty"`
	Amount     *float64 `json:"amount,omitempty"`
	Months     *int     `json:"months,omitempty"`
}

// Credit holds the credit flags shared by other departments.
type Credit struct {
	SeriousDishonest      *bool `json:"serious_dishonest,omitempty"`
	WageArrearsBlacklist  *bool `json:"wage_arrears_blacklist,omitempty"`
	AbnormalOperationList *bool `json:"abnormal_operation_list,omitempty"`
	Zombie                *bool `json:"zombie,omitempty"`
}

// NewHire is one recent hire of an enterprise.
type NewHire struct {
	PersonID         *string `json:"person_id,omitempty"`
	HireDate         *string `json:"hire_date,omitempty"`
	Category         *string `json:"category,omitempty"`
	UIPaidMonths     *int    `json:"ui_paid_months,omitempty"`
	CurrentlyInsured *bool   `json:"currently_insured,omitempty"`
}

// InternshipBase is the 就业见习基地 certification.
type InternshipBase struct {
	Certified *bool `json:"certified,omitempty"`
}

// EnterpriseBenefit is a benefit already granted to an enterprise.
type EnterpriseBenefit struct {
	PolicyID *string  `json:"policy_id,omitempty"`
	Year     *int     `json:"year,omitempty"`
	Amount   *float64 `json:"amount,omitempty"`
}

// EnterpriseContacts holds the enterprise's contact mobiles.
type EnterpriseContacts struct {
	HRMobile       *string `json:"hr_mobile,omitempty"`
	LegalRepMobile *string `json:"legal_rep_mobile,omitempty"`
}

// EnterpriseChannels are the channels an enterprise can be reached on.
type EnterpriseChannels struct {
	WeChat *EnterpriseWeChat `json:"wechat,omitempty"`
	SMS    *SMSChannel       `json:"sms,omitempty"`
}

// EnterpriseWeChat is the enterprise's official-account binding.
// Followed is an addition to CONTRACTS.md §2, whose §3 reads it for any
// subject.
type EnterpriseWeChat struct {
	OpenID   *string `json:"openid,omitempty"`
	Followed *bool   `json:"followed,omitempty"`
}

// EnterpriseConsent is the enterprise's consent and opt-out list.
// PersonalizedPush is an addition to CONTRACTS.md §2, whose §3 reads it
// for any subject.
type EnterpriseConsent struct {
	PersonalizedPush *bool    `json:"personalized_push,omitempty"`
	OptOutChannels   []string `json:"opt_out_channels,omitempty"`
}
