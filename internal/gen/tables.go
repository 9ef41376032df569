package gen

// The synthetic city is Hangzhou, whose districts shared/research/domain.md
// uses in its examples (330106 西湖区). The tables are built once per run,
// rather than kept in package variables, and are read-only afterwards.

type district struct {
	code, name string
	weight     float64 // share of residents and firms, roughly by population
}

type industry struct {
	code   string  // GB/T 4754-2017: the class, or section and division where the class does not matter
	word   string  // as it appears in a firm's name
	weight float64 // share of insured employers
	wage   float64 // average monthly contribution base, 元 (plausible Hangzhou levels, not sourced)
}

type occupation struct{ code, name string }

type tables struct {
	districts       []district
	districtWeights []float64 // cumulative
	// Hukou regions of migrants: other cities of Zhejiang and the provinces
	// Hangzhou draws most migrants from (安徽, 河南, 江西, 四川, 贵州, 湖南).
	// The codes are real 行政区划 codes, chosen for illustration.
	elsewhere       []string
	industries      []industry
	industryWeights []float64 // cumulative
	// Occupations of skill certificates, in the code format of the 国家职业
	// 分类大典; 电工 is domain.md's example, the others illustrate.
	occupations []occupation
	// Characters of firms' trade names (字号).
	nameChars []string
	// Mainland mobile prefixes of the three operators.
	mobilePrefixes []string
}

func newTables() *tables {
	t := &tables{
		districts: []district{
			{"330102", "上城", 13.2}, {"330105", "拱墅", 11.8}, {"330106", "西湖", 11.3},
			{"330108", "滨江", 5.0}, {"330109", "萧山", 20.1}, {"330110", "余杭", 12.3},
			{"330111", "富阳", 8.3}, {"330112", "临安", 6.4}, {"330113", "临平", 11.8},
			{"330114", "钱塘", 7.7}, {"330122", "桐庐", 4.5}, {"330127", "淳安", 3.3},
			{"330182", "建德", 4.4},
		},
		elsewhere: []string{
			"330302", "330602", "331002", "330521", "341202", "341602", "341221",
			"411502", "411522", "361102", "362427", "510722", "520502", "430582",
		},
		industries: []industry{
			{"C3421", "机械", 6, 7600}, {"C1810", "服饰", 5, 6100}, {"C3670", "汽车配件", 4, 7800},
			{"C2927", "塑料制品", 3, 6500}, {"C3911", "电子", 4, 9300}, {"C14", "食品", 2, 6200},
			{"I6513", "科技", 6, 16500}, {"I6420", "网络科技", 5, 15200},
			{"F5211", "商贸", 6, 6000}, {"F51", "贸易", 8, 7200},
			{"H6210", "餐饮管理", 6, 5200}, {"G54", "物流", 5, 7000},
			{"E4710", "建设工程", 4, 7500}, {"K7020", "物业服务", 4, 5600},
			{"L72", "企业管理咨询", 5, 9100}, {"O8010", "家政服务", 3, 5000},
			{"M75", "技术服务", 3, 11200}, {"P83", "教育科技", 2, 8200},
			{"R86", "文化传媒", 3, 9400},
		},
		occupations: []occupation{
			{"6-31-01-03", "电工"}, {"6-18-02-04", "焊工"}, {"4-10-01-05", "养老护理员"},
			{"4-10-01-03", "保育师"}, {"4-03-02-01", "中式烹调师"}, {"4-03-02-05", "中式面点师"},
			{"4-12-01-01", "汽车维修工"}, {"4-07-02-03", "企业人力资源管理师"},
			{"4-10-03-01", "美容师"}, {"6-29-01-03", "砌筑工"}, {"4-02-06-03", "快递员"},
			{"4-14-02-02", "健康管理师"}, {"4-01-02-01", "电子商务师"}, {"6-20-03-02", "数控车工"},
		},
		nameChars: []string{
			"恒", "达", "华", "瑞", "鑫", "盛", "宏", "远", "新", "锦", "泰", "安", "永", "丰",
			"诚", "信", "博", "创", "智", "云", "海", "天", "金", "明", "嘉", "和", "润", "德",
			"辰", "星", "启", "航", "卓", "越", "汇", "晨", "优", "佳", "康", "源", "峰", "凯",
			"正", "隆", "兴", "鼎", "元", "通", "涌", "潮",
		},
		mobilePrefixes: []string{
			"130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
			"150", "151", "152", "153", "155", "156", "157", "158", "159",
			"166", "173", "175", "176", "177", "178",
			"180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
			"191", "193", "195", "198", "199",
		},
	}
	for _, d := range t.districts {
		t.districtWeights = append(t.districtWeights, cumulative(t.districtWeights)+d.weight)
	}
	for _, in := range t.industries {
		t.industryWeights = append(t.industryWeights, cumulative(t.industryWeights)+in.weight)
	}
	return t
}

func cumulative(cum []float64) float64 {
	if len(cum) == 0 {
		return 0
	}
	return cum[len(cum)-1]
}
