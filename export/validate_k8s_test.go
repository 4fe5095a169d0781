package export

// The Kubernetes checker of the export tests: every generated object is
// decoded strictly into the official API types (an unknown or duplicate
// field is an error), and every name, port name, label and reference is
// checked with apimachinery's validation, the rules the API server applies.
// k8s.io/api and k8s.io/apimachinery are imported by tests only, so they
// are never linked into the cluster binary.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// manifest is what one export's YAML decodes to.
type manifest struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
}

var strictDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// validateManifest decodes every document of a multi-document YAML text and
// returns the objects and every problem found, each "Kind/name: path: why".
func validateManifest(text string) (manifest, []string) {
	var m manifest
	var errs []string
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, append(errs, fmt.Sprintf("document %d: %v", i, err))
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			// A strict decoding error still returns the object: report and go on.
			errs = append(errs, fmt.Sprintf("document %d: %v", i, err))
			if obj == nil || !runtime.IsStrictDecodingError(err) {
				continue
			}
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, o)
			errs = append(errs, prefix("Deployment/"+o.Name, validateDeployment(o))...)
		case *corev1.Service:
			m.services = append(m.services, o)
			errs = append(errs, prefix("Service/"+o.Name, validateService(o))...)
		default:
			errs = append(errs, fmt.Sprintf("document %d: unexpected %v", i, gvk))
		}
	}
	// Cross-object: each Service selects the Deployment's pods and names
	// ports its container has.
	for _, s := range m.services {
		errs = append(errs, prefix("Service/"+s.Name, serviceTargets(s, m.deployments))...)
	}
	return m, slices.Compact(errs) // the name checks spelled out repeat some of ValidateObjectMeta's
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func prefix(p string, errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, p+": "+e.Error())
	}
	return out
}

func msgs(fld *field.Path, value any, problems []string) field.ErrorList {
	var out field.ErrorList
	for _, m := range problems {
		out = append(out, field.Invalid(fld, value, m))
	}
	return out
}

func validateLabels(l map[string]string, fld *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(l, fld)
	for k, v := range l { // what ValidateLabels checks, spelled out as the brief asks
		errs = append(errs, msgs(fld.Key(k), k, content.IsLabelKey(k))...)
		errs = append(errs, msgs(fld.Key(k), v, content.IsLabelValue(v))...)
	}
	return errs
}

// validateMeta checks an object's metadata as the API server does (nameFn,
// its kind's rule), with the name's rule (isName) and the labels spelled out.
func validateMeta(meta *metav1.ObjectMeta, nameFn apivalidation.ValidateNameFunc, isName func(string) []string) field.ErrorList {
	md := field.NewPath("metadata")
	errs := apivalidation.ValidateObjectMeta(meta, false, nameFn, md)
	errs = append(errs, msgs(md.Child("name"), meta.Name, isName(meta.Name))...)
	return append(errs, validateLabels(meta.Labels, md.Child("labels"))...)
}

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := validateMeta(&d.ObjectMeta, apivalidation.NameIsDNSSubdomain, validation.IsDNS1123Label)
	spec := field.NewPath("spec")
	if d.Spec.Replicas != nil && *d.Spec.Replicas < 0 {
		errs = append(errs, field.Invalid(spec.Child("replicas"), *d.Spec.Replicas, "must be >= 0"))
	}
	tmpl := spec.Child("template")
	errs = append(errs, validateLabels(d.Spec.Template.Labels, tmpl.Child("metadata", "labels"))...)
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(d.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
		if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			errs = append(errs, field.Invalid(tmpl.Child("metadata", "labels"), d.Spec.Template.Labels, "`selector` does not match template `labels`"))
		}
	}
	return append(errs, validatePodSpec(&d.Spec.Template.Spec, tmpl.Child("spec"))...)
}

func validatePodSpec(ps *corev1.PodSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if g := ps.TerminationGracePeriodSeconds; g == nil || *g < 0 {
		errs = append(errs, field.Invalid(fld.Child("terminationGracePeriodSeconds"), g, "want a value >= 0"))
	}
	volumes := map[string]bool{}
	for i, v := range ps.Volumes {
		vf := fld.Child("volumes").Index(i)
		errs = append(errs, msgs(vf.Child("name"), v.Name, validation.IsDNS1123Label(v.Name))...)
		if volumes[v.Name] {
			errs = append(errs, field.Duplicate(vf.Child("name"), v.Name))
		}
		volumes[v.Name] = true
		if v.EmptyDir == nil && v.Secret == nil && v.ConfigMap == nil {
			errs = append(errs, field.Required(vf, "a volume source"))
		}
	}
	if ps.SecurityContext != nil {
		for i, s := range ps.SecurityContext.Sysctls {
			if s.Name != "net.ipv4.ip_unprivileged_port_start" { // the one this export writes; a safe sysctl
				errs = append(errs, field.NotSupported(fld.Child("securityContext", "sysctls").Index(i).Child("name"), s.Name, []string{"net.ipv4.ip_unprivileged_port_start"}))
			}
		}
	}
	if len(ps.Containers) == 0 {
		errs = append(errs, field.Required(fld.Child("containers"), ""))
	}
	containers := map[string]bool{}
	for i := range ps.Containers {
		c := &ps.Containers[i]
		cf := fld.Child("containers").Index(i)
		errs = append(errs, msgs(cf.Child("name"), c.Name, validation.IsDNS1123Label(c.Name))...)
		if containers[c.Name] {
			errs = append(errs, field.Duplicate(cf.Child("name"), c.Name))
		}
		containers[c.Name] = true
		if c.Image == "" {
			errs = append(errs, field.Required(cf.Child("image"), ""))
		}
		errs = append(errs, validateContainer(c, volumes, cf)...)
	}
	return errs
}

func validateContainer(c *corev1.Container, volumes map[string]bool, cf *field.Path) field.ErrorList {
	var errs field.ErrorList
	portNames := map[string]bool{}
	for j, p := range c.Ports {
		pf := cf.Child("ports").Index(j)
		if p.Name != "" {
			errs = append(errs, msgs(pf.Child("name"), p.Name, validation.IsValidPortName(p.Name))...)
			if portNames[p.Name] {
				errs = append(errs, field.Duplicate(pf.Child("name"), p.Name))
			}
			portNames[p.Name] = true
		}
		errs = append(errs, msgs(pf.Child("containerPort"), p.ContainerPort, validation.IsValidPortNum(int(p.ContainerPort)))...)
	}
	for j, e := range c.Env {
		errs = append(errs, msgs(cf.Child("env").Index(j).Child("name"), e.Name, validation.IsEnvVarName(e.Name))...)
	}
	for j, e := range c.EnvFrom {
		ef := cf.Child("envFrom").Index(j)
		switch {
		case e.SecretRef != nil:
			errs = append(errs, msgs(ef.Child("secretRef", "name"), e.SecretRef.Name, validation.IsDNS1123Subdomain(e.SecretRef.Name))...)
		case e.ConfigMapRef != nil:
			errs = append(errs, msgs(ef.Child("configMapRef", "name"), e.ConfigMapRef.Name, validation.IsDNS1123Subdomain(e.ConfigMapRef.Name))...)
		default:
			errs = append(errs, field.Required(ef, "secretRef or configMapRef"))
		}
	}
	for name, pr := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
		if pr == nil {
			continue
		}
		pf := cf.Child(name)
		if pr.HTTPGet == nil && pr.TCPSocket == nil && pr.Exec == nil && pr.GRPC == nil {
			errs = append(errs, field.Required(pf, "a handler"))
		}
		if h := pr.HTTPGet; h != nil {
			if !path.IsAbs(h.Path) {
				errs = append(errs, field.Invalid(pf.Child("httpGet", "path"), h.Path, "must be an absolute path"))
			}
			errs = append(errs, validatePortRef(h.Port, portNames, pf.Child("httpGet", "port"))...)
		}
		if t := pr.TCPSocket; t != nil {
			errs = append(errs, validatePortRef(t.Port, portNames, pf.Child("tcpSocket", "port"))...)
		}
		for what, v := range map[string]int32{"periodSeconds": pr.PeriodSeconds, "timeoutSeconds": pr.TimeoutSeconds, "failureThreshold": pr.FailureThreshold} {
			if v < 0 {
				errs = append(errs, field.Invalid(pf.Child(what), v, "must be >= 0"))
			}
		}
	}
	mounts := map[string]bool{}
	for j, m := range c.VolumeMounts {
		mf := cf.Child("volumeMounts").Index(j)
		if !volumes[m.Name] {
			errs = append(errs, field.NotFound(mf.Child("name"), m.Name))
		}
		if !path.IsAbs(m.MountPath) || mounts[m.MountPath] {
			errs = append(errs, field.Invalid(mf.Child("mountPath"), m.MountPath, "must be absolute and unique"))
		}
		mounts[m.MountPath] = true
	}
	for res, qty := range c.Resources.Limits {
		if qty.Sign() <= 0 {
			errs = append(errs, field.Invalid(cf.Child("resources", "limits").Key(string(res)), qty.String(), "must be > 0"))
		}
	}
	if sc := c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		errs = append(errs, field.Invalid(cf.Child("securityContext", "runAsUser"), 0, "runAsNonRoot with user 0"))
	}
	return errs
}

// validatePortRef checks a probe's or Service's port: a number, or the name
// of one of the container's ports.
func validatePortRef(p intstr.IntOrString, names map[string]bool, fld *field.Path) field.ErrorList {
	if p.Type == intstr.Int {
		return msgs(fld, p.IntVal, validation.IsValidPortNum(int(p.IntVal)))
	}
	errs := msgs(fld, p.StrVal, validation.IsValidPortName(p.StrVal))
	if names != nil && !names[p.StrVal] {
		errs = append(errs, field.NotFound(fld, p.StrVal))
	}
	return errs
}

func validateService(s *corev1.Service) field.ErrorList {
	errs := validateMeta(&s.ObjectMeta, apivalidation.NameIsDNS1035Label, validation.IsDNS1035Label)
	spec := field.NewPath("spec")
	errs = append(errs, validateLabels(s.Spec.Selector, spec.Child("selector"))...)
	if s.Spec.Type != corev1.ServiceTypeClusterIP {
		errs = append(errs, field.NotSupported(spec.Child("type"), s.Spec.Type, []string{string(corev1.ServiceTypeClusterIP)}))
	}
	if len(s.Spec.Ports) == 0 {
		errs = append(errs, field.Required(spec.Child("ports"), ""))
	}
	names := map[string]bool{}
	ports := map[string]bool{} // "TCP/8080": the API server refuses a (protocol, port) twice
	for i, p := range s.Spec.Ports {
		pf := spec.Child("ports").Index(i)
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		if key := fmt.Sprintf("%s/%d", proto, p.Port); ports[key] {
			errs = append(errs, field.Duplicate(pf, key))
		} else {
			ports[key] = true
		}
		if p.Name == "" && len(s.Spec.Ports) > 1 {
			errs = append(errs, field.Required(pf.Child("name"), "when there are several ports"))
		}
		if p.Name != "" {
			errs = append(errs, msgs(pf.Child("name"), p.Name, validation.IsDNS1123Label(p.Name))...)
			errs = append(errs, msgs(pf.Child("name"), p.Name, validation.IsValidPortName(p.Name))...)
			if names[p.Name] {
				errs = append(errs, field.Duplicate(pf.Child("name"), p.Name))
			}
			names[p.Name] = true
		}
		errs = append(errs, msgs(pf.Child("port"), p.Port, validation.IsValidPortNum(int(p.Port)))...)
		errs = append(errs, validatePortRef(p.TargetPort, nil, pf.Child("targetPort"))...)
	}
	return errs
}

// serviceTargets checks that s selects the pods of a Deployment and that
// its named target ports exist in that pod's containers.
func serviceTargets(s *corev1.Service, deployments []*appsv1.Deployment) field.ErrorList {
	spec := field.NewPath("spec")
	for _, d := range deployments {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			continue
		}
		ports := map[string]bool{}
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				ports[p.Name] = true
			}
		}
		var errs field.ErrorList
		for i, p := range s.Spec.Ports {
			if p.TargetPort.Type == intstr.String && !ports[p.TargetPort.StrVal] {
				errs = append(errs, field.NotFound(spec.Child("ports").Index(i).Child("targetPort"), p.TargetPort.StrVal))
			}
		}
		return errs
	}
	return field.ErrorList{field.Invalid(spec.Child("selector"), s.Spec.Selector, "selects no Deployment's pods")}
}
