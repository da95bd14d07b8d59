package specjson

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-project/berth/internal/runtime/specjson/specgen"
)

func TestGenerated(t *testing.T) {
	want, err := specgen.Source()
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("spec_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatal("spec_gen.go is stale: run go generate ./internal/runtime/specjson")
	}
}

// same checks that Unmarshal gives encoding/json's spec and error.
func same(t *testing.T, doc []byte) {
	t.Helper()
	var want, have specs.Spec
	werr := json.Unmarshal(doc, &want)
	herr := Unmarshal(doc, &have)
	if (werr == nil) != (herr == nil) || (werr != nil && werr.Error() != herr.Error()) {
		t.Fatalf("%.200q: error %v, encoding/json: %v", doc, herr, werr)
	}
	if !reflect.DeepEqual(have, want) {
		t.Fatalf("%.200q: decoded\n%+v\nencoding/json:\n%+v", doc, have, want)
	}
	// Where the generated decoder succeeds, it alone must agree.
	var fast specs.Spec
	if decodeFast(doc, &fast) && !reflect.DeepEqual(fast, want) {
		t.Fatalf("%.200q: fast path decoded\n%+v\nencoding/json:\n%+v", doc, fast, want)
	}
}

// fill gives every field reachable from v a value other than its zero,
// different for each field (interfaces, which encoding/json fills with
// its own types, stay nil).
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + strings.Repeat("x", *n%7) + "\"\\/\t\u00e9\u4e16")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-int64(*n % 100))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n%200 + 1))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), n)
		fill(v.Index(1), n)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for _, k := range []string{"a", "b.c"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fill(e, n)
			v.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() || v.Type().Field(i).Anonymous {
				fill(v.Field(i), n)
			}
		}
	}
}

func fullSpec(t *testing.T) []byte {
	var s specs.Spec
	n := 0
	fill(reflect.ValueOf(&s).Elem(), &n)
	doc, err := json.MarshalIndent(&s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestFastPath: the JSON that runtimes and engines write never needs
// encoding/json.
func TestFastPath(t *testing.T) {
	docs := map[string][]byte{"every field": fullSpec(t)}
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = b
	}
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for name, doc := range docs {
		var s specs.Spec
		if !decodeFast(doc, &s) {
			t.Errorf("%s: fell back to encoding/json", name)
		}
		same(t, doc)
	}
}

// edgeCases are decoded by both paths and must match encoding/json.
var edgeCases = []string{
	``, ` `, `null`, `[]`, `"x"`, `1`, `{}`, `{} `, `{}x`, `{}{}`, "\ufeff{}", `{`, `{"ociVersion"}`,
	`{"ociVersion":"1.0.0"}`, `{"OCIVERSION":"1"}`, `{"ociversion":"1","ociVersion":"2"}`,
	`{"ociVersion":"1","ociVersion":"2"}`, `{"ociVersion":null}`, `{"ociVersion":1}`,
	`{"hostname":"a\"b\\c\/d\b\f\n\r\t\u00e9\u4e16\u0000"}`, `{"hostname":"\ud83d\ude00"}`,
	`{"hostname":"\ud83d"}`, `{"hostname":"\x"}`, `{"hostname":"\u12"}`, "{\"hostname\":\"a\x01\"}",
	"{\"hostname\":\"\xff\"}", "{\"hostname\":\"é\"}", "{\"hostnamé\":\"x\"}", "{\"hoſtname\":\"x\"}",
	`{"host\u006eame":"x"}`, `{"unknown":{"a":[1,2.5e-3,-0,true,false,null,{"b":"c"}]},"hostname":"h"}`,
	`{"unknown":[01]}`, `{"unknown":1.}`, `{"unknown":-}`, `{"unknown":1e}`, `{"unknown":tru}`,
	`{"process":null}`, `{"process":{}}`, `{"process":{"args":null}}`, `{"process":{"args":[]}}`,
	`{"process":{"args":["a",null,"b"]}}`, `{"process":{"args":"a"}}`, `{"process":[]}`,
	`{"process":{"user":{"uid":4294967295,"gid":0}}}`, `{"process":{"user":{"uid":4294967296}}}`,
	`{"process":{"user":{"uid":-1}}}`, `{"process":{"user":{"uid":1.0}}}`, `{"process":{"user":{"uid":1e3}}}`,
	`{"process":{"user":{"uid":01}}}`, `{"process":{"user":{"uid":"1"}}}`, `{"process":{"user":{"uid":null}}}`,
	`{"process":{"oomScoreAdj":-1000}}`, `{"process":{"terminal":true,"noNewPrivileges":false}}`,
	`{"process":{"terminal":1}}`, `{"process":{"terminal":null}}`,
	`{"linux":{"resources":{"memory":{"limit":-1,"swap":9223372036854775807}}}}`,
	`{"linux":{"resources":{"memory":{"limit":9223372036854775808}}}}`,
	`{"linux":{"resources":{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":10}]}}}}`,
	`{"linux":{"sysctl":{"a":"1","a":"2","b":null}}}`, `{"linux":{"sysctl":{}}}`, `{"linux":{"sysctl":null}}`,
	`{"linux":{"sysctl":{"a":1}}}`, `{"annotations":{"\u00e9":"x"}}`,
	`{"linux":{"devices":[{"path":"/dev/x","type":"c","major":1,"minor":3,"fileMode":438}]}}`,
	`{"windows":{"credentialSpec":{"a":1}}}`, `{"windows":{"credentialSpec":null}}`,
	`{"mounts":[{"destination":"/a","options":["ro"]},null]}`,
	`{"hostname":"a",}`, `{"hostname":"a" "x":1}`, `{,}`, `{"a":1,,"b":2}`, `[1,]`,
	`{"unknown":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`,
	`{"unknown":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
}

func TestMatchesEncodingJSON(t *testing.T) {
	for _, c := range edgeCases {
		same(t, []byte(c))
	}
	same(t, fullSpec(t))
}

func FuzzUnmarshal(f *testing.F) {
	for _, c := range edgeCases {
		f.Add([]byte(c))
	}
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) { same(t, doc) })
}
