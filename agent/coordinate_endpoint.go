package agent

import (
	"net/http"

	"github.com/meridian-sd/meridian/structs"
)

func (a *Agent) coordinateDatacenters(resp http.ResponseWriter, req *http.Request) (any, error) {
	var out []structs.DatacenterMap
	if err := a.RPCContext(req.Context(), "Coordinate.ListDatacenters", &struct{}{}, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []structs.DatacenterMap{}
	}
	return out, nil
}

func (a *Agent) coordinateNodes(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Coordinate.ListNodes", a.dcArgs,
		func(_ *structs.DCSpecificRequest, out *structs.IndexedCoordinates) (any, error) {
			if out.Coordinates == nil {
				out.Coordinates = structs.Coordinates{}
			}
			return out.Coordinates, nil
		})
}

func (a *Agent) coordinateNode(resp http.ResponseWriter, req *http.Request) (any, error) {
	return readRPC(a, resp, req, "Coordinate.Node", nodeArgs("/v1/coordinate/node/"),
		func(_ *structs.NodeSpecificRequest, out *structs.IndexedCoordinates) (any, error) {
			if len(out.Coordinates) == 0 {
				resp.WriteHeader(http.StatusNotFound)
				return nil, nil
			}
			return out.Coordinates, nil
		})
}

func (a *Agent) coordinateUpdate(resp http.ResponseWriter, req *http.Request) (any, error) {
	var args structs.CoordinateUpdateRequest
	if err := decodeBody(req, &args); err != nil {
		return nil, err
	}
	if args.Datacenter == "" {
		args.Datacenter = a.parseDC(req)
	}
	if args.Node == "" {
		return nil, badRequest("Missing node name")
	}
	if args.Coord == nil || !args.Coord.IsValid() {
		return nil, badRequest("Invalid coordinate")
	}
	var out struct{}
	if err := a.RPCContext(req.Context(), "Coordinate.Update", &args, &out); err != nil {
		return nil, err
	}
	return true, nil
}
