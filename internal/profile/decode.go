package profile

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// DecodeValid decodes a profile that has already been validated, such as
// one the store holds; the result is a *Resident or an *Enterprise.
//
// It is the decode of every sweep and backfill, once per stored profile,
// so it takes a fast path: a scanner written for the two profile types,
// that makes one allocation for a profile's nested objects and scalars and
// takes its strings as slices of one copy of the document. Whatever the
// fast path does not expect (an unknown or escaped name, a repeated name,
// a value of another type, an escaped or invalid string, malformed JSON) is
// decoded by encoding/json instead, so that the result and the error are
// those of encoding/json on every input (TestDecodeValidAgrees,
// FuzzDecodeValid).
func DecodeValid(kind Kind, data []byte) (any, error) {
	if p, ok := decodeFast(kind, data); ok {
		return p, nil
	}
	var p any = &Resident{}
	if kind == KindEnterprise {
		p = &Enterprise{}
	}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode %s profile: %w", kind, err)
	}
	return p, nil
}

// giveUp is the panic value with which the fast path hands a document to
// encoding/json; decodeFast recovers it and nothing else.
type giveUp struct{}

// decodeFast decodes data on the fast path; ok is false when it gave up.
func decodeFast(kind Kind, data []byte) (p any, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, mine := r.(giveUp); !mine {
				panic(r)
			}
			p, ok = nil, false
		}
	}()
	d := &decoder{s: string(data)}
	if kind == KindEnterprise {
		a := &enterpriseArena{}
		d.slab = &a.slab
		d.enterprise(a)
		p = &a.e
	} else {
		a := &residentArena{}
		d.slab = &a.slab
		d.resident(a)
		p = &a.r
	}
	d.ws()
	if d.i != len(d.s) {
		panic(giveUp{})
	}
	return p, true
}

// slab holds the scalars a profile's pointer fields point to, so that they
// cost no allocation of their own; when it is full, scalars are allocated.
type slab struct {
	strs   [40]string
	bools  [28]bool
	ints   [12]int
	floats [6]float64
	ns, nb int
	ni, nf int
}

// residentArena holds a resident and every nested object it can have, in
// one allocation.
type residentArena struct {
	r       Resident
	hukou   Hukou
	edu     Education
	emp     Employment
	sep     Separation
	ureg    UnemploymentRegistration
	hard    Hardship
	vet     Veteran
	dis     Disability
	ins     Insurance
	pen     Pension
	uins    UnemploymentIns
	wi, med InsuranceStatus
	pr      PensionReceiving
	ent     Entrepreneur
	contact Contact
	ch      ResidentChannels
	wx      WeChatChannel
	sms     SMSChannel
	consent ResidentConsent
	slab
}

// enterpriseArena is residentArena for an enterprise.
type enterpriseArena struct {
	e        Enterprise
	ui       EnterpriseUI
	arrears  Arrears
	credit   Credit
	ib       InternshipBase
	contacts EnterpriseContacts
	ch       EnterpriseChannels
	wx       EnterpriseWeChat
	sms      SMSChannel
	consent  EnterpriseConsent
	slab
}

type decoder struct {
	s    string // the document; unescaped strings are slices of it
	i    int
	slab *slab
}

func (d *decoder) resident(a *residentArena) {
	r := &a.r
	seenID := false
	d.object(func(k string) {
		switch k {
		case "person_id":
			if seenID {
				panic(giveUp{})
			}
			seenID = true
			if !d.null() {
				r.PersonID = d.str()
			}
		case "gender":
			d.strp(&r.Gender)
		case "birth_date":
			d.strp(&r.BirthDate)
		case "residence_region_code":
			d.strp(&r.ResidenceRegionCode)
		case "hukou":
			if obj(d, &r.Hukou, &a.hukou) {
				h := r.Hukou
				d.object(func(k string) {
					switch k {
					case "type":
						d.strp(&h.Type)
					case "region_code":
						d.strp(&h.RegionCode)
					case "is_local":
						d.boolp(&h.IsLocal)
					default:
						panic(giveUp{})
					}
				})
			}
		case "education":
			if obj(d, &r.Education, &a.edu) {
				e := r.Education
				d.object(func(k string) {
					switch k {
					case "level":
						d.strp(&e.Level)
					case "is_full_time":
						d.boolp(&e.IsFullTime)
					case "is_regular_college":
						d.boolp(&e.IsRegularCollege)
					case "graduation_date":
						d.strp(&e.GraduationDate)
					default:
						panic(giveUp{})
					}
				})
			}
		case "employment":
			if obj(d, &r.Employment, &a.emp) {
				d.employment(a)
			}
		case "hardship":
			if obj(d, &r.Hardship, &a.hard) {
				h := r.Hardship
				d.object(func(k string) {
					switch k {
					case "certified":
						d.boolp(&h.Certified)
					case "categories":
						d.strs(&h.Categories)
					case "certified_date":
						d.strp(&h.CertifiedDate)
					default:
						panic(giveUp{})
					}
				})
			}
		case "veteran":
			if obj(d, &r.Veteran, &a.vet) {
				v := r.Veteran
				d.object(func(k string) {
					switch k {
					case "is_veteran":
						d.boolp(&v.IsVeteran)
					case "discharge_date":
						d.strp(&v.DischargeDate)
					default:
						panic(giveUp{})
					}
				})
			}
		case "disability":
			if obj(d, &r.Disability, &a.dis) {
				v := r.Disability
				d.object(func(k string) {
					switch k {
					case "has_certificate":
						d.boolp(&v.HasCertificate)
					case "level":
						d.intp(&v.Level)
					default:
						panic(giveUp{})
					}
				})
			}
		case "insurance":
			if obj(d, &r.Insurance, &a.ins) {
				d.insurance(a)
			}
		case "pension_receiving":
			if obj(d, &r.PensionReceiving, &a.pr) {
				v := r.PensionReceiving
				d.object(func(k string) {
					switch k {
					case "receiving":
						d.boolp(&v.Receiving)
					case "start_date":
						d.strp(&v.StartDate)
					case "last_auth_date":
						d.strp(&v.LastAuthDate)
					default:
						panic(giveUp{})
					}
				})
			}
		case "skill_certificates":
			d.slice(r.SkillCertificates != nil, func() {
				out := make([]SkillCertificate, 0, 2)
				d.array(func() {
					var c SkillCertificate
					d.object(func(k string) {
						switch k {
						case "occupation_code":
							d.strp(&c.OccupationCode)
						case "occupation_name":
							d.strp(&c.OccupationName)
						case "level":
							d.strp(&c.Level)
						case "issue_date":
							d.strp(&c.IssueDate)
						default:
							panic(giveUp{})
						}
					})
					out = append(out, c)
				})
				r.SkillCertificates = out
			})
		case "entrepreneur":
			if obj(d, &r.Entrepreneur, &a.ent) {
				v := r.Entrepreneur
				d.object(func(k string) {
					switch k {
					case "is_founder":
						d.boolp(&v.IsFounder)
					case "business_uscc":
						d.strp(&v.BusinessUSCC)
					case "registered_date":
						d.strp(&v.RegisteredDate)
					default:
						panic(giveUp{})
					}
				})
			}
		case "benefits_received":
			d.slice(r.BenefitsReceived != nil, func() {
				out := make([]ResidentBenefit, 0, 2)
				d.array(func() {
					var b ResidentBenefit
					d.object(func(k string) {
						switch k {
						case "policy_id":
							d.strp(&b.PolicyID)
						case "granted_on":
							d.strp(&b.GrantedOn)
						case "amount":
							d.floatp(&b.Amount)
						default:
							panic(giveUp{})
						}
					})
					out = append(out, b)
				})
				r.BenefitsReceived = out
			})
		case "contact":
			if obj(d, &r.Contact, &a.contact) {
				v := r.Contact
				d.object(func(k string) {
					switch k {
					case "mobile":
						d.strp(&v.Mobile)
					default:
						panic(giveUp{})
					}
				})
			}
		case "channels":
			if obj(d, &r.Channels, &a.ch) {
				v := r.Channels
				d.object(func(k string) {
					switch k {
					case "wechat":
						if obj(d, &v.WeChat, &a.wx) {
							w := v.WeChat
							d.object(func(k string) {
								switch k {
								case "openid":
									d.strp(&w.OpenID)
								case "followed":
									d.boolp(&w.Followed)
								default:
									panic(giveUp{})
								}
							})
						}
					case "sms":
						if obj(d, &v.SMS, &a.sms) {
							d.sms(v.SMS)
						}
					default:
						panic(giveUp{})
					}
				})
			}
		case "consent":
			if obj(d, &r.Consent, &a.consent) {
				v := r.Consent
				d.object(func(k string) {
					switch k {
					case "personalized_push":
						d.boolp(&v.PersonalizedPush)
					case "opt_out_channels":
						d.strs(&v.OptOutChannels)
					case "opt_out_at":
						d.strp(&v.OptOutAt)
					default:
						panic(giveUp{})
					}
				})
			}
		default:
			panic(giveUp{})
		}
	})
}

func (d *decoder) employment(a *residentArena) {
	e := a.r.Employment
	d.object(func(k string) {
		switch k {
		case "status":
			d.strp(&e.Status)
		case "employer_uscc":
			d.strp(&e.EmployerUSCC)
		case "last_separation":
			if obj(d, &e.LastSeparation, &a.sep) {
				s := e.LastSeparation
				d.object(func(k string) {
					switch k {
					case "date":
						d.strp(&s.Date)
					case "reason":
						d.strp(&s.Reason)
					default:
						panic(giveUp{})
					}
				})
			}
		case "unemployment_registration":
			if obj(d, &e.UnemploymentRegistration, &a.ureg) {
				u := e.UnemploymentRegistration
				d.object(func(k string) {
					switch k {
					case "registered":
						d.boolp(&u.Registered)
					case "date":
						d.strp(&u.Date)
					default:
						panic(giveUp{})
					}
				})
			}
		default:
			panic(giveUp{})
		}
	})
}

func (d *decoder) insurance(a *residentArena) {
	in := a.r.Insurance
	d.object(func(k string) {
		switch k {
		case "pension":
			if obj(d, &in.Pension, &a.pen) {
				p := in.Pension
				d.object(func(k string) {
					switch k {
					case "scheme":
						d.strp(&p.Scheme)
					case "status":
						d.strp(&p.Status)
					case "cumulative_months":
						d.intp(&p.CumulativeMonths)
					case "last_paid_month":
						d.strp(&p.LastPaidMonth)
					default:
						panic(giveUp{})
					}
				})
			}
		case "unemployment":
			if obj(d, &in.Unemployment, &a.uins) {
				u := in.Unemployment
				d.object(func(k string) {
					switch k {
					case "status":
						d.strp(&u.Status)
					case "cumulative_months":
						d.intp(&u.CumulativeMonths)
					case "last_paid_month":
						d.strp(&u.LastPaidMonth)
					default:
						panic(giveUp{})
					}
				})
			}
		case "work_injury":
			if obj(d, &in.WorkInjury, &a.wi) {
				d.status(in.WorkInjury)
			}
		case "medical":
			if obj(d, &in.Medical, &a.med) {
				d.status(in.Medical)
			}
		default:
			panic(giveUp{})
		}
	})
}

func (d *decoder) status(s *InsuranceStatus) {
	d.object(func(k string) {
		if k != "status" {
			panic(giveUp{})
		}
		d.strp(&s.Status)
	})
}

func (d *decoder) sms(s *SMSChannel) {
	d.object(func(k string) {
		if k != "enabled" {
			panic(giveUp{})
		}
		d.boolp(&s.Enabled)
	})
}

func (d *decoder) enterprise(a *enterpriseArena) {
	e := &a.e
	seenID := false
	d.object(func(k string) {
		switch k {
		case "uscc":
			if seenID {
				panic(giveUp{})
			}
			seenID = true
			if !d.null() {
				e.USCC = d.str()
			}
		case "name":
			d.strp(&e.Name)
		case "region_code":
			d.strp(&e.RegionCode)
		case "industry_code":
			d.strp(&e.IndustryCode)
		case "size_class":
			d.strp(&e.SizeClass)
		case "registered_date":
			d.strp(&e.RegisteredDate)
		case "registration_status":
			d.strp(&e.RegistrationStatus)
		case "insured_count_now":
			d.intp(&e.InsuredCountNow)
		case "ui":
			if obj(d, &e.UI, &a.ui) {
				u := e.UI
				d.object(func(k string) {
					switch k {
					case "paid_full_months":
						d.intp(&u.PaidFullMonths)
					case "premium_paid_last_year":
						d.floatp(&u.PremiumPaidLastYear)
					case "avg_insured_last_year":
						d.floatp(&u.AvgInsuredLastYear)
					case "new_claimants_last_year":
						d.intp(&u.NewClaimantsLastYear)
					case "insured_count_year_start":
						d.intp(&u.InsuredCountYearStart)
					case "insured_count_year_end":
						d.intp(&u.InsuredCountYearEnd)
					default:
						panic(giveUp{})
					}
				})
			}
		case "arrears":
			if obj(d, &e.Arrears, &a.arrears) {
				v := e.Arrears
				d.object(func(k string) {
					switch k {
					case "has_arrears":
						d.boolp(&v.HasArrears)
					case "amount":
						d.floatp(&v.Amount)
					case "months":
						d.intp(&v.Months)
					default:
						panic(giveUp{})
					}
				})
			}
		case "credit":
			if obj(d, &e.Credit, &a.credit) {
				v := e.Credit
				d.object(func(k string) {
					switch k {
					case "serious_dishonest":
						d.boolp(&v.SeriousDishonest)
					case "wage_arrears_blacklist":
						d.boolp(&v.WageArrearsBlacklist)
					case "abnormal_operation_list":
						d.boolp(&v.AbnormalOperationList)
					case "zombie":
						d.boolp(&v.Zombie)
					default:
						panic(giveUp{})
					}
				})
			}
		case "new_hires":
			d.slice(e.NewHires != nil, func() {
				out := make([]NewHire, 0, 4)
				d.array(func() {
					var h NewHire
					d.object(func(k string) {
						switch k {
						case "person_id":
							d.strp(&h.PersonID)
						case "hire_date":
							d.strp(&h.HireDate)
						case "category":
							d.strp(&h.Category)
						case "ui_paid_months":
							d.intp(&h.UIPaidMonths)
						case "currently_insured":
							d.boolp(&h.CurrentlyInsured)
						default:
							panic(giveUp{})
						}
					})
					out = append(out, h)
				})
				e.NewHires = out
			})
		case "internship_base":
			if obj(d, &e.InternshipBase, &a.ib) {
				v := e.InternshipBase
				d.object(func(k string) {
					if k != "certified" {
						panic(giveUp{})
					}
					d.boolp(&v.Certified)
				})
			}
		case "benefits_received":
			d.slice(e.BenefitsReceived != nil, func() {
				out := make([]EnterpriseBenefit, 0, 2)
				d.array(func() {
					var b EnterpriseBenefit
					d.object(func(k string) {
						switch k {
						case "policy_id":
							d.strp(&b.PolicyID)
						case "year":
							d.intp(&b.Year)
						case "amount":
							d.floatp(&b.Amount)
						default:
							panic(giveUp{})
						}
					})
					out = append(out, b)
				})
				e.BenefitsReceived = out
			})
		case "contacts":
			if obj(d, &e.Contacts, &a.contacts) {
				v := e.Contacts
				d.object(func(k string) {
					switch k {
					case "hr_mobile":
						d.strp(&v.HRMobile)
					case "legal_rep_mobile":
						d.strp(&v.LegalRepMobile)
					default:
						panic(giveUp{})
					}
				})
			}
		case "channels":
			if obj(d, &e.Channels, &a.ch) {
				v := e.Channels
				d.object(func(k string) {
					switch k {
					case "wechat":
						if obj(d, &v.WeChat, &a.wx) {
							w := v.WeChat
							d.object(func(k string) {
								switch k {
								case "openid":
									d.strp(&w.OpenID)
								case "followed":
									d.boolp(&w.Followed)
								default:
									panic(giveUp{})
								}
							})
						}
					case "sms":
						if obj(d, &v.SMS, &a.sms) {
							d.sms(v.SMS)
						}
					default:
						panic(giveUp{})
					}
				})
			}
		case "consent":
			if obj(d, &e.Consent, &a.consent) {
				v := e.Consent
				d.object(func(k string) {
					switch k {
					case "personalized_push":
						d.boolp(&v.PersonalizedPush)
					case "opt_out_channels":
						d.strs(&v.OptOutChannels)
					default:
						panic(giveUp{})
					}
				})
			}
		default:
			panic(giveUp{})
		}
	})
}

// obj readies the nested object *p for decoding into slot, and reports
// whether there is one to decode: a null leaves *p nil. A name met twice
// gives up, since encoding/json would merge the two objects.
func obj[T any](d *decoder, p **T, slot *T) bool {
	if *p != nil {
		panic(giveUp{})
	}
	if d.null() {
		return false
	}
	*p = slot
	return true
}

// slice decodes an array field with fill, unless it is null. A name met
// twice (set) gives up: encoding/json would decode into the first slice.
func (d *decoder) slice(set bool, fill func()) {
	if set {
		panic(giveUp{})
	}
	if d.null() {
		return
	}
	fill()
}

// object decodes a JSON object, calling member for each name; member must
// decode the value. A name with an escape gives up.
func (d *decoder) object(member func(name string)) {
	d.ws()
	d.want('{')
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return
	}
	for {
		d.ws()
		d.want('"')
		start := d.i
		for d.i < len(d.s) && d.s[d.i] != '"' {
			if c := d.s[d.i]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				panic(giveUp{})
			}
			d.i++
		}
		name := d.s[start:d.i]
		d.want('"')
		d.ws()
		d.want(':')
		d.ws()
		member(name)
		d.ws()
		if d.i >= len(d.s) {
			panic(giveUp{})
		}
		c := d.s[d.i]
		d.i++
		switch c {
		case ',':
		case '}':
			return
		default:
			panic(giveUp{})
		}
	}
}

// array decodes a JSON array, calling elem for each element. A null
// element gives up (encoding/json gives the zero value).
func (d *decoder) array(elem func()) {
	d.want('[')
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return
	}
	for {
		d.ws()
		if d.null() {
			panic(giveUp{})
		}
		elem()
		d.ws()
		if d.i >= len(d.s) {
			panic(giveUp{})
		}
		c := d.s[d.i]
		d.i++
		switch c {
		case ',':
		case ']':
			return
		default:
			panic(giveUp{})
		}
	}
}

func (d *decoder) strs(p *[]string) {
	d.slice(*p != nil, func() {
		out := make([]string, 0, 2)
		d.array(func() { out = append(out, d.str()) })
		*p = out
	})
}

func (d *decoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) want(c byte) {
	if d.i >= len(d.s) || d.s[d.i] != c {
		panic(giveUp{})
	}
	d.i++
}

// null consumes a null and reports whether there was one.
func (d *decoder) null() bool {
	if d.i < len(d.s) && d.s[d.i] == 'n' {
		d.lit("null")
		return true
	}
	return false
}

func (d *decoder) lit(l string) {
	if len(d.s)-d.i < len(l) || d.s[d.i:d.i+len(l)] != l {
		panic(giveUp{})
	}
	d.i += len(l)
}

// str decodes a string without escapes, in valid UTF-8, as a slice of the
// document; any other string gives up.
func (d *decoder) str() string {
	d.want('"')
	start, ascii := d.i, true
	for d.i < len(d.s) && d.s[d.i] != '"' {
		c := d.s[d.i]
		if c == '\\' || c < 0x20 {
			panic(giveUp{})
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
		d.i++
	}
	s := d.s[start:d.i]
	d.want('"')
	if !ascii && !utf8.ValidString(s) {
		panic(giveUp{})
	}
	return s
}

// number returns a JSON number's literal, checked against the grammar.
func (d *decoder) number() string {
	start := d.i
	if d.i < len(d.s) && d.s[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.s) && d.s[d.i] == '0':
		d.i++
	case d.i < len(d.s) && d.s[d.i] >= '1' && d.s[d.i] <= '9':
		d.digits()
	default:
		panic(giveUp{})
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			panic(giveUp{})
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			panic(giveUp{})
		}
	}
	return d.s[start:d.i]
}

func (d *decoder) digits() int {
	start := d.i
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		d.i++
	}
	return d.i - start
}

func (d *decoder) strp(p **string) {
	if *p != nil {
		panic(giveUp{})
	}
	if d.null() {
		return
	}
	v := d.str()
	if s := d.slab; s.ns < len(s.strs) {
		s.strs[s.ns] = v
		*p = &s.strs[s.ns]
		s.ns++
		return
	}
	*p = new(string)
	**p = v
}

func (d *decoder) boolp(p **bool) {
	if *p != nil {
		panic(giveUp{})
	}
	var v bool
	switch {
	case d.null():
		return
	case d.i < len(d.s) && d.s[d.i] == 't':
		d.lit("true")
		v = true
	default:
		d.lit("false")
	}
	if s := d.slab; s.nb < len(s.bools) {
		s.bools[s.nb] = v
		*p = &s.bools[s.nb]
		s.nb++
		return
	}
	*p = new(bool)
	**p = v
}

// intp decodes an integer as encoding/json does: a literal with a fraction
// or an exponent, or out of range, gives up (encoding/json refuses it).
func (d *decoder) intp(p **int) {
	if *p != nil {
		panic(giveUp{})
	}
	if d.null() {
		return
	}
	v, err := strconv.ParseInt(d.number(), 10, 0)
	if err != nil {
		panic(giveUp{})
	}
	if s := d.slab; s.ni < len(s.ints) {
		s.ints[s.ni] = int(v)
		*p = &s.ints[s.ni]
		s.ni++
		return
	}
	*p = new(int)
	**p = int(v)
}

func (d *decoder) floatp(p **float64) {
	if *p != nil {
		panic(giveUp{})
	}
	if d.null() {
		return
	}
	v, err := strconv.ParseFloat(d.number(), 64)
	if err != nil {
		panic(giveUp{})
	}
	if s := d.slab; s.nf < len(s.floats) {
		s.floats[s.nf] = v
		*p = &s.floats[s.nf]
		s.nf++
		return
	}
	*p = new(float64)
	**p = v
}
