package demo

// Word lists the rows are made of. Everything here is plain text that needs
// no HTML or XML escaping: no <, >, & or quotes.

var eventKinds = []struct{ name, abbr string }{
	{"International Conference", "IC"},
	{"Workshop", "W"},
	{"Symposium", "S"},
	{"Summer School", "SS"},
	{"Annual Meeting", "AM"},
	{"Colloquium", "C"},
	{"Winter School", "WS"},
	{"European Conference", "EC"},
	{"Asia-Pacific Symposium", "APS"},
	{"International Workshop", "IW"},
	{"Doctoral Consortium", "DC"},
	{"Nordic Conference", "NC"},
}

var adjectives = []string{
	"Applied", "Computational", "Distributed", "Formal", "Statistical",
	"Quantum", "Theoretical", "Experimental", "Cognitive", "Probabilistic",
	"Parallel", "Mobile", "Secure", "Scalable", "Interactive", "Semantic",
	"Evolutionary", "Numerical", "Empirical", "Autonomous", "Embedded",
	"Algebraic", "Biomedical", "Environmental", "Sustainable", "Comparative",
	"Digital", "Molecular", "Structural", "Adaptive", "Geometric", "Robust",
}

var fields = []string{
	"Machine Learning", "Databases", "Logic", "Linguistics",
	"Software Engineering", "Networks", "Cryptography", "Robotics",
	"Optimization", "Graph Theory", "Information Retrieval", "Computer Vision",
	"Economics", "Epidemiology", "Genomics", "Materials Science",
	"Fluid Dynamics", "Category Theory", "Game Theory",
	"Human-Computer Interaction", "Operating Systems", "Programming Languages",
	"Signal Processing", "Data Mining", "Bioinformatics", "Astrophysics",
	"Climate Modelling", "Neuroscience", "Control Theory", "Combinatorics",
	"Topology", "Compilers", "Storage Systems", "Web Search",
	"Speech Recognition", "Knowledge Representation", "Verification",
	"Scheduling", "Visualization", "Ecology",
}

var domains = []string{
	"Healthcare", "Finance", "Education", "Energy Systems", "Transportation",
	"Agriculture", "the Humanities", "Manufacturing", "Public Policy",
	"Scientific Computing", "Smart Cities", "Law", "Social Networks",
	"Archaeology", "Oceanography", "Space Exploration", "Music", "Logistics",
	"Telecommunications", "Disaster Response",
}

var cities = []string{
	"Oslo, Norway", "Trondheim, Norway", "Bergen, Norway", "Stockholm, Sweden",
	"Copenhagen, Denmark", "Helsinki, Finland", "Reykjavik, Iceland",
	"Edinburgh, United Kingdom", "Cambridge, United Kingdom", "Dublin, Ireland",
	"Amsterdam, Netherlands", "Delft, Netherlands", "Leuven, Belgium",
	"Paris, France", "Grenoble, France", "Zurich, Switzerland",
	"Lausanne, Switzerland", "Heidelberg, Germany", "Berlin, Germany",
	"Vienna, Austria", "Prague, Czech Republic", "Krakow, Poland",
	"Barcelona, Spain", "Lisbon, Portugal", "Milan, Italy", "Athens, Greece",
	"Haifa, Israel", "Cape Town, South Africa", "Bangalore, India",
	"Singapore, Singapore", "Tokyo, Japan", "Kyoto, Japan", "Seoul, Korea",
	"Beijing, China", "Melbourne, Australia", "Auckland, New Zealand",
	"Vancouver, Canada", "Montreal, Canada", "Boston, USA", "Seattle, USA",
	"Austin, USA", "Santiago, Chile", "Sao Paulo, Brazil",
}

var universities = []string{
	"University of Oslo", "Norwegian University of Science and Technology",
	"ETH Zurich", "University of Cambridge", "Massachusetts Institute of Technology",
	"Stanford University", "University of Tokyo", "Tsinghua University",
	"University of Toronto", "EPFL", "TU Delft", "KU Leuven",
	"Sorbonne University", "Heidelberg University", "University of Melbourne",
	"National University of Singapore", "University of Cape Town",
	"University of Sao Paulo", "Seoul National University",
	"University of Edinburgh", "Carnegie Mellon University",
	"University of Washington", "Aarhus University", "Uppsala University",
	"University of Helsinki", "Technion", "IIT Bombay", "University of Chile",
	"McGill University", "Politecnico di Milano", "Trinity College Dublin",
	"University of Amsterdam",
}

var buildings = []string{
	"Main Auditorium", "Science Library", "Conference Centre", "Great Hall",
	"Informatics Forum", "Lecture Theatre A", "Aula Magna",
	"Physics Building", "Student Union", "Old Observatory",
}

var departments = []string{
	"Department of Computer Science", "School of Informatics",
	"Department of Mathematics", "Department of Physics",
	"Institute for Logic, Language and Computation", "Department of Linguistics",
	"School of Engineering", "Department of Statistics",
	"Department of Economics", "Department of Biology",
	"Department of Electrical Engineering", "Centre for Data Science",
}

var honorifics = []string{"Prof. ", "Dr. ", "Assoc. Prof. ", "", "Dr. ", "Prof. "}

var firstNames = []string{
	"Ingrid", "Thomas", "Kari", "Lars", "Maria", "Jonas", "Sofia", "Ahmed",
	"Yuki", "Chen", "Priya", "Carlos", "Fatima", "Olga", "Pierre", "Elena",
	"Hiroshi", "Anna", "David", "Leila", "Marco", "Ngozi", "Sven", "Ming",
	"Laura", "Rafael", "Aisha", "Tomas", "Helena", "Kwame", "Irene", "Pavel",
	"Rosa", "Daniel", "Mei", "Arjun", "Sara", "Jakob", "Noor", "Lucia",
}

var lastNames = []string{
	"Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Nilsen", "Berg",
	"Haugen", "Smith", "Garcia", "Nakamura", "Wang", "Kumar", "Rossi",
	"Dubois", "Schmidt", "Novak", "Kowalski", "Silva", "Petrov", "Cohen",
	"Okafor", "Tanaka", "Lindqvist", "Virtanen", "Jensen", "Moreau",
	"Fischer", "Costa", "Ivanova", "Kim", "Park", "Nguyen", "Haddad",
	"Mensah", "Brown", "Martin", "Lopez", "Weber", "Eriksson", "Sato",
	"Papadopoulos", "Horvath", "Fernandes", "Mutua", "Li", "Zhang", "Singh",
}

// Sentence templates for descriptions. Placeholders: %S the page's subject,
// %C a city, %U a university, %Y the page's year, %A an adjective, %F a field,
// %D a domain. The last three are drawn afresh each time.
var sentences = []string{
	"The meeting brings together researchers and practitioners working on %S to exchange ideas and discuss recent results.",
	"Contributions describing original work on %A %F are particularly welcome, as are experience reports from %D.",
	"Previous editions attracted more than two hundred participants from over thirty countries.",
	"The programme combines invited talks, peer-reviewed paper sessions, tutorials and a poster reception.",
	"Accepted papers will appear in the proceedings and selected authors will be invited to submit extended versions to a special issue.",
	"A limited number of travel grants is available for students and early-career researchers.",
	"The local organisers at %U will host a welcome reception on the evening before the first session.",
	"%C is easy to reach by train and air, and the venue is a short walk from the city centre.",
	"Work on %S has moved quickly in recent years, driven by new data sets, cheaper hardware and open-source tools.",
	"Open problems include the interplay between %A %F and the practical demands of %D.",
	"Panel discussions will address reproducibility, open access and the evaluation of research software.",
	"The steering committee encourages submissions that bridge theory and practice.",
	"Negative results and replication studies are explicitly in scope.",
	"Each submission will receive at least three reviews from members of the programme committee.",
	"Authors of accepted papers are expected to present their work in person in %C.",
	"A best paper award and a best student paper award will be presented at the closing session.",
	"The organisers are committed to a diverse and inclusive event and follow a published code of conduct.",
	"Since %Y the community around %S has grown steadily, with new groups forming across Europe, Asia and the Americas.",
	"Tutorials on the first day introduce newcomers to %A %F and its tools.",
	"Industrial participants will present case studies from %D and discuss lessons learned in deployment.",
	"The social programme includes a guided tour of %C and a conference dinner.",
	"Registration includes lunches, coffee breaks and access to all sessions.",
	"Slides and recordings of the invited talks will be made available after the event.",
	"The call for papers is also distributed through the usual mailing lists of the %F community.",
	"Questions about the scope of the meeting can be sent to the programme chairs at any time.",
	"Research on %S draws on methods from %A %F as well as on domain knowledge from %D.",
	"Many of the foundational results in this area were first presented at small workshops like this one.",
	"The organisers thank %U for generous support and the use of its facilities.",
}

var paperTitles = []string{
	"Towards %A %F", "On the Complexity of %A %F", "A Survey of %F in %D",
	"%A %F: Lessons Learned", "Revisiting %F with %A Techniques",
	"Scaling %F to %D", "A Benchmark for %A %F", "%F Meets %D",
	"Lower Bounds for %A %F", "An Empirical Study of %F in %D",
}

var callTopics = []string{
	"foundations and theory", "algorithms and data structures",
	"tools, systems and implementations", "benchmarks and evaluation",
	"applications in %D", "case studies and experience reports",
	"education and outreach", "%A methods", "interactions with %F",
	"privacy, ethics and societal impact", "reproducibility and open data",
	"scalability and performance",
}
